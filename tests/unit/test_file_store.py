"""file:// reads and listings on a real folder: only regular files are read, never blocking and
never leaking a descriptor; every legal name is listed in key order and reads back."""

from __future__ import annotations

import os
import threading
from contextlib import suppress
from pathlib import Path

import pytest

from mmsearch.infra.errors import ItemError
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.settings import Settings
from tests.fixtures.files import ODD_FILE_NAMES, named_pipe


def store(root: Path, **kwargs: object) -> ObjectStore:
    settings = Settings(data_dir=root.parent / "data", file_root=root, **kwargs)
    return ObjectStore(settings)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def fetch_code(objects: ObjectStore, uri: str) -> str:
    with pytest.raises(ItemError) as caught:
        objects.fetch(objects.parse(uri))
    return str(caught.value.code)


def answers(objects: ObjectStore, uri: str, timeout_s: float = 5) -> bool:
    """Whether reading `uri` returns or fails within `timeout_s` (the read goes on in a thread)."""
    done = threading.Event()

    def read() -> None:
        with suppress(ItemError):
            objects.fetch(objects.parse(uri))
        done.set()

    threading.Thread(target=read, daemon=True).start()
    return done.wait(timeout_s)


def test_a_named_pipe_is_refused_without_blocking(file_root: Path) -> None:
    objects = store(file_root)
    with named_pipe(file_root / "pipe.jpg") as pipe:
        uri = file_uri(pipe)
        assert answers(objects, uri)
        assert fetch_code(objects, uri) == "not_a_file"


def test_folders_are_refused_as_images(file_root: Path) -> None:
    objects = store(file_root)
    (file_root / "album.jpg").mkdir()
    assert fetch_code(objects, file_uri(file_root / "album.jpg")) == "not_a_file"
    assert fetch_code(objects, file_uri(file_root)) == "not_a_file"
    assert fetch_code(objects, file_uri(file_root) + "/") == "not_a_file"


def test_symlink_loops_are_not_found(file_root: Path) -> None:
    objects = store(file_root)
    (file_root / "loop").symlink_to("loop")
    (file_root / "ping").symlink_to("pong")
    (file_root / "pong").symlink_to("ping")
    for name in ["loop", "ping", "loop/a.jpg"]:
        assert fetch_code(objects, file_uri(file_root / name)) == "not_found"
    with pytest.raises(ItemError) as caught:
        objects.parse(file_uri(file_root / "loop") + "/", prefix=True)
    assert caught.value.code == "not_found"


def test_no_descriptor_leaks_on_any_error_path(file_root: Path) -> None:
    objects = store(file_root, max_image_bytes=10)
    (file_root / "folder").mkdir()
    (file_root / "big.jpg").write_bytes(b"x" * 11)
    (file_root / "locked.jpg").write_bytes(b"x")
    (file_root / "locked.jpg").chmod(0)
    (file_root / "loop").symlink_to("loop")
    with named_pipe(file_root / "pipe.jpg"):
        names = ["folder", "big.jpg", "loop", "pipe.jpg", "missing.jpg", ""]
        names += [] if os.geteuid() == 0 else ["locked.jpg"]  # root reads any file
        uris = [file_uri(file_root / name) for name in names]
        assert all(answers(objects, uri) for uri in uris)  # warm up: lazily opened files
        before = open_descriptors()
        for _ in range(20):
            assert all(answers(objects, uri) for uri in uris)
        assert open_descriptors() == before


def test_reads_are_bounded_in_time(file_root: Path) -> None:
    objects = store(file_root, fetch_timeout_s=1e-9, max_image_bytes=64 << 20)
    (file_root / "large.jpg").write_bytes(b"x" * (8 << 20))
    assert fetch_code(objects, file_uri(file_root / "large.jpg")) == "fetch_failed"


def test_every_legal_name_is_listed_and_reads_back(file_root: Path) -> None:
    objects = store(file_root)
    for index, name in enumerate(ODD_FILE_NAMES):
        (file_root / name).write_bytes(f"image {index}".encode())
    listed = list(objects.list_prefix(objects.parse(file_uri(file_root) + "/", prefix=True), 99))
    assert len(listed) == len(ODD_FILE_NAMES)
    read = {objects.fetch(objects.parse(uri)) for uri in listed}
    assert read == {f"image {i}".encode() for i in range(len(ODD_FILE_NAMES))}
    assert all(uri.isprintable() for uri in listed)


def test_a_folder_is_listed_in_key_order(file_root: Path) -> None:
    keys = ["c.jpg", "a/1.jpg", "a b.jpg", "a0.jpg", "a/b/2.jpg", "a-z.jpg", "b.png", "ä.jpg"]
    for key in keys:
        (file_root / key).parent.mkdir(parents=True, exist_ok=True)
        (file_root / key).write_bytes(b"x")
    (file_root / "a" / "notes.txt").write_bytes(b"x")
    objects = store(file_root)
    listed = list(objects.list_prefix(objects.parse(file_uri(file_root) + "/", prefix=True), 99))
    by_bytes = sorted(keys, key=lambda key: key.encode())
    assert listed == [file_uri(file_root / key) for key in by_bytes]
