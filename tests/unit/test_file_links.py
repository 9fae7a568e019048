"""Symlinks under the file root: a folder is listed under the reference as the user gave it,
links that stay inside the root are followed (each folder once), links out of it never are, and
a reference out of the root is refused with a message that names the root."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmsearch.infra.errors import ItemError
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.settings import Settings


def store(root: Path) -> ObjectStore:
    return ObjectStore(Settings(data_dir=root.parent / "data", file_root=root))


def listed(objects: ObjectStore, prefix: str) -> list[str]:
    return list(objects.list_prefix(objects.parse(prefix, prefix=True), 99))


def write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def forbidden_message(objects: ObjectStore, uri: str) -> str:
    with pytest.raises(ItemError) as caught:
        objects.parse(uri)
    assert caught.value.code == "forbidden_uri"
    return caught.value.message


def test_a_folder_is_listed_under_the_prefix_as_given(file_root: Path) -> None:
    write(file_root / "real" / "a.jpg")
    write(file_root / "real" / "sub" / "b.jpg")
    (file_root / "view").symlink_to("real")
    objects = store(file_root)
    view = file_uri(file_root / "view")
    assert listed(objects, view + "/") == [f"{view}/a.jpg", f"{view}/sub/b.jpg"]
    assert listed(objects, view) == [f"{view}/a.jpg", f"{view}/sub/b.jpg"]
    localhost = "file://localhost" + str(file_root / "view") + "/"
    assert listed(objects, localhost) == [f"{localhost}a.jpg", f"{localhost}sub/b.jpg"]


def test_links_inside_the_root_are_followed_and_links_out_are_not(
    file_root: Path, tmp_path: Path
) -> None:
    album = file_root / "album"
    write(album / "own.jpg", b"own")
    write(file_root / "elsewhere" / "c.jpg", b"linked")
    write(file_root / "more" / "d.jpg", b"below a linked folder")
    outside = write(tmp_path / "outside" / "secret.jpg", b"secret")
    (album / "linked.jpg").symlink_to(file_root / "elsewhere" / "c.jpg")
    (album / "more").symlink_to("../more")
    (album / "out.jpg").symlink_to(outside)
    (album / "outdir").symlink_to(outside.parent)
    (album / "dangling.jpg").symlink_to("missing.jpg")
    (album / "self").symlink_to(".")
    (album / "ping.jpg").symlink_to("pong.jpg")
    (album / "pong.jpg").symlink_to("ping.jpg")
    objects = store(file_root)
    uris = listed(objects, file_uri(album) + "/")
    names = ["linked.jpg", "more/d.jpg", "own.jpg"]
    assert uris == [file_uri(album / name) for name in names]
    read = [objects.fetch(objects.parse(uri)) for uri in uris]
    assert read == [b"linked", b"below a linked folder", b"own"]


def test_links_into_the_folder_are_not_followed_and_every_folder_is_listed_once(
    file_root: Path,
) -> None:
    write(file_root / "p" / "x.jpg")
    write(file_root / "ext" / "y.jpg")
    (file_root / "p" / "alias.jpg").symlink_to("x.jpg")
    (file_root / "p" / "self").symlink_to(".")
    (file_root / "p" / "l1").symlink_to(file_root / "ext")
    (file_root / "p" / "l2").symlink_to(file_root / "ext")
    (file_root / "ext" / "back").symlink_to(".")
    (file_root / "ext" / "up").symlink_to(file_root / "p")
    (file_root / "ext" / "fan").mkdir()
    for index in range(8):  # links that would multiply the paths to one folder
        (file_root / "ext" / "fan" / f"l{index}").symlink_to(file_root / "ext")
    p = file_uri(file_root / "p")
    assert listed(store(file_root), p + "/") == [f"{p}/l1/y.jpg", f"{p}/x.jpg"]


def test_a_root_configured_through_a_link_lists_under_its_own_spelling(tmp_path: Path) -> None:
    real = tmp_path / "disk" / "photos"
    write(real / "a.jpg")
    (tmp_path / "data").symlink_to(tmp_path / "disk")
    configured = tmp_path / "data" / "photos"
    objects = store(configured)
    assert listed(objects, file_uri(configured) + "/") == [file_uri(configured / "a.jpg")]
    for spelling in (configured, real):
        assert objects.fetch(objects.parse(file_uri(spelling / "a.jpg"))) == b"x"


def test_a_reference_out_of_the_root_names_the_root_and_the_upload(
    file_root: Path, tmp_path: Path
) -> None:
    objects = store(file_root)
    existing = write(tmp_path / "elsewhere" / "a.jpg")
    missing = tmp_path / "elsewhere" / "b.jpg"
    (tmp_path / "loop").symlink_to("loop")
    messages = [
        forbidden_message(objects, uri).replace(uri, "URI")
        for uri in (file_uri(existing), file_uri(missing), file_uri(tmp_path / "loop" / "a.jpg"))
    ]
    assert str(file_root) in messages[0] and "--upload s3://" in messages[0]
    assert messages[0] == messages[1] == messages[2]  # nothing told about the path outside


def test_file_references_without_a_root_suggest_the_upload(tmp_path: Path) -> None:
    objects = ObjectStore(Settings(data_dir=tmp_path / "data", file_root=None))
    message = forbidden_message(objects, file_uri(tmp_path / "a.jpg"))
    assert "MMSEARCH_FILE_ROOT" in message and "--upload s3://" in message


def test_a_tenant_listing_follows_links_within_its_sources_only(file_root: Path) -> None:
    write(file_root / "acme" / "own.jpg")
    write(file_root / "acme" / "shared" / "a.jpg")
    write(file_root / "globex" / "secret.jpg")
    (file_root / "acme" / "alias.jpg").symlink_to("own.jpg")
    (file_root / "acme" / "peek.jpg").symlink_to(file_root / "globex" / "secret.jpg")
    (file_root / "acme" / "peek").symlink_to(file_root / "globex")
    (file_root / "acme" / "again").symlink_to("shared")
    sources = {"acme": [file_uri(file_root / "acme") + "/"]}
    objects = ObjectStore(
        Settings(data_dir=file_root.parent / "data", file_root=file_root, tenant_sources=sources)
    )
    acme = file_uri(file_root / "acme")
    prefix = objects.parse(acme + "/", prefix=True, tenant="acme")
    own = [f"{acme}/own.jpg", f"{acme}/shared/a.jpg"]
    assert list(objects.list_prefix(prefix, 99, tenant="acme")) == own
    everything = ["own.jpg", "peek.jpg", "peek/secret.jpg", "shared/a.jpg"]
    assert listed(objects, acme + "/") == [f"{acme}/{n}" for n in everything]
