"""Media references: schemes, bucket/key shape, and file:// confinement incl. symlinks."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmsearch.infra.errors import ItemError
from mmsearch.infra.media.uris import file_uri, parse_media_uri
from tests.fixtures.files import ODD_FILE_NAMES, ODD_KEYS

S3_ONLY = ["s3"]
BOTH = ["s3", "file"]


def code_of(uri: str, schemes: list[str] = BOTH, root: Path | None = None, **kw: bool) -> str:
    with pytest.raises(ItemError) as caught:
        parse_media_uri(uri, allowed_schemes=schemes, file_root=root, **kw)
    return str(caught.value.code)


def test_s3_references() -> None:
    ref = parse_media_uri("s3://my-bucket/photos/a b.jpg", allowed_schemes=S3_ONLY, file_root=None)
    assert (ref.scheme, ref.bucket, ref.path) == ("s3", "my-bucket", "photos/a b.jpg")
    prefix = parse_media_uri(
        "s3://my-bucket/", allowed_schemes=S3_ONLY, file_root=None, prefix=True
    )
    assert prefix.path == ""


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("http://169.254.169.254/latest/meta-data", "forbidden_uri"),  # http is off by default
        ("https://example.com/a.jpg", "forbidden_uri"),
        ("ftp://host/a.jpg", "invalid_uri"),
        ("/etc/passwd", "invalid_uri"),
        ("s3://Bad_Bucket/a.jpg", "invalid_uri"),
        ("s3://bucket", "invalid_uri"),
        ("s3://bucket/folder/", "invalid_uri"),
        ("s3://user@bucket/a.jpg", "invalid_uri"),
        ("s3://bucket:9000/a.jpg", "invalid_uri"),
        ("s3://bucket/a/../../b.jpg", "forbidden_uri"),
        ("s3://bucket/a\x00.jpg", "invalid_uri"),
        ("s3://bucket/" + "k" * 3000, "invalid_uri"),
        ("", "invalid_uri"),
    ],
)
def test_bad_references(uri: str, code: str) -> None:
    assert code_of(uri) == code


def test_disabled_scheme_is_forbidden(tmp_path: Path) -> None:
    assert code_of(f"file://{tmp_path}/a.jpg", S3_ONLY, tmp_path) == "forbidden_uri"
    assert code_of(f"file://{tmp_path}/a.jpg", BOTH, None) == "forbidden_uri"


def test_file_confinement(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.jpg").write_bytes(b"x")
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"s")
    (root / "escape.jpg").symlink_to(secret)
    (root / "dirlink").symlink_to(tmp_path)
    (root / "inner.jpg").symlink_to(root / "sub" / "ok.jpg")

    ok = parse_media_uri(f"file://{root}/sub/ok.jpg", allowed_schemes=BOTH, file_root=root)
    assert ok.path == str((root / "sub" / "ok.jpg").resolve())
    inner = parse_media_uri(f"file://{root}/inner.jpg", allowed_schemes=BOTH, file_root=root)
    assert inner.path == ok.path
    assert code_of(f"file://{root}/../secret.jpg", root=root) == "forbidden_uri"
    assert code_of(f"file://{root}/sub/%2e%2e/%2e%2e/secret.jpg", root=root) == "forbidden_uri"
    assert code_of(f"file://{secret}", root=root) == "forbidden_uri"
    assert code_of(f"file://{root}/escape.jpg", root=root) == "forbidden_uri"
    assert code_of(f"file://{root}/dirlink/secret.jpg", root=root) == "forbidden_uri"
    assert code_of(f"file://otherhost{root}/sub/ok.jpg", root=root) == "invalid_uri"
    assert code_of("file://relative/path.jpg", root=root) == "invalid_uri"
    (tmp_path / "loop").symlink_to("loop")  # unresolvable, and outside the root all the same
    assert code_of(f"file://{tmp_path}/loop/a.jpg", root=root) == "forbidden_uri"


@pytest.mark.parametrize("name", ODD_FILE_NAMES)
def test_file_references_round_trip_every_name(tmp_path: Path, name: str) -> None:
    uri = file_uri(tmp_path / name)
    assert uri.isprintable() and "#" not in uri and "?" not in uri
    ref = parse_media_uri(uri, allowed_schemes=BOTH, file_root=tmp_path)
    assert ref.path == str(tmp_path / name)


@pytest.mark.parametrize("key", ODD_KEYS)
def test_s3_keys_are_taken_literally(key: str) -> None:
    ref = parse_media_uri(f"s3://my-bucket/in/{key}", allowed_schemes=S3_ONLY, file_root=None)
    assert (ref.bucket, ref.path) == ("my-bucket", f"in/{key}")
    folder = parse_media_uri(
        f"s3://my-bucket/{key}/", allowed_schemes=S3_ONLY, file_root=None, prefix=True
    )
    assert folder.path == f"{key}/"


@pytest.mark.parametrize(
    "uri", ["s3://bucket/\ud800.jpg", "file:///media/\udfff.jpg", "s3://bucket?a=b/x.jpg"]
)
def test_references_that_are_not_text_or_bucket_shaped_are_invalid(uri: str) -> None:
    assert code_of(uri, root=Path("/media")) == "invalid_uri"
