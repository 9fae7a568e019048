"""Per-tenant source scopes: which references a tenant key may name."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mmsearch.infra.catalog.sources import check_tenant_source
from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.media.uris import parse_media_uri
from mmsearch.infra.settings import Settings

SCHEMES = ["s3", "file", "https"]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for tenant in ("a", "b"):
        (tmp_path / tenant).mkdir()
        (tmp_path / tenant / "x.jpg").write_bytes(b"x")
    (tmp_path / "a" / "link.jpg").symlink_to(tmp_path / "b" / "x.jpg")
    (tmp_path / "a" / "to-b").symlink_to(tmp_path / "b")
    return tmp_path


def scopes(root: Path) -> dict[str, list[str]]:
    return {
        "acme": [f"file://{root}/a/", "s3://bucket-a/", "s3://shared/a/", "https://img.acme.com/"],
        "globex": [f"file://{root}/b"],
    }


def check(uri: str, tenant: str | None, root: Path, *, prefix: bool = False) -> None:
    ref = parse_media_uri(uri, allowed_schemes=SCHEMES, file_root=root, prefix=prefix)
    check_tenant_source(ref, tenant, scopes(root))


def refused(uri: str, tenant: str | None, root: Path, *, prefix: bool = False) -> bool:
    try:
        check(uri, tenant, root, prefix=prefix)
    except ItemError as exc:
        assert exc.code == ItemErrorCode.FORBIDDEN_URI
        return True
    return False


# (reference with `{root}` for the file root, tenant, a prefix?, may the tenant name it?)
CASES = [
    ("file://{root}/a/x.jpg", "acme", False, True),
    ("s3://bucket-a/any/key.jpg", "acme", False, True),
    ("s3://shared/a/k.jpg", "acme", False, True),
    ("https://img.acme.com/p/q.jpg", "acme", False, True),
    ("file://{root}/a/", "acme", True, True),
    ("s3://shared/a/", "acme", True, True),
    ("file://{root}/b/x.jpg", "globex", False, True),
    ("file://{root}/b/x.jpg", "acme", False, False),
    ("s3://bucket-b/k.jpg", "acme", False, False),
    ("s3://shared/b/k.jpg", "acme", False, False),
    ("s3://shared/ab/k.jpg", "acme", False, False),
    ("s3://bucket-a2/k.jpg", "acme", False, False),
    ("https://img.globex.com/q.jpg", "acme", False, False),
    ("https://img.acme.com.evil.net/q.jpg", "acme", False, False),
    ("file://{root}/a/x.jpg", "globex", False, False),
    ("file://{root}/", "acme", True, False),
    ("s3://shared/a", "acme", True, False),  # would list shared/ab/ too
]


@pytest.mark.parametrize(("uri", "tenant", "prefix", "allowed"), CASES)
def test_a_tenant_may_name_only_what_lies_in_its_scopes(
    root: Path, uri: str, tenant: str, prefix: bool, allowed: bool
) -> None:
    assert refused(uri.format(root=root), tenant, root, prefix=prefix) is not allowed


def test_symlinks_out_of_the_scope_are_forbidden(root: Path) -> None:
    assert refused(f"file://{root}/a/link.jpg", "acme", root)
    assert refused(f"file://{root}/a/to-b/x.jpg", "acme", root)
    assert refused(f"file://{root}/a/to-b/", "acme", root, prefix=True)


def test_a_tenant_without_sources_may_name_nothing(root: Path) -> None:
    assert refused("s3://bucket-a/k.jpg", "initech", root)
    assert refused(f"file://{root}/a/x.jpg", "initech", root)


def test_no_tenant_is_not_confined(root: Path) -> None:
    assert not refused(f"file://{root}/b/x.jpg", None, root)
    assert not refused("s3://anything/k.jpg", None, root)


def test_settings_refuse_a_scope_that_names_no_source() -> None:
    assert Settings(tenant_sources={"acme": ["s3://b/acme"]}).tenant_sources == {
        "acme": ["s3://b/acme"]
    }
    for bad in ({"acme": ["ftp://host/x"]}, {"acme": ["photos/acme"]}, {"Not A Tenant": []}):
        with pytest.raises(ValidationError):
            Settings(tenant_sources=bad)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", {}), ("{}", {}), ('{"acme": ["s3://shared/acme/"]}', {"acme": ["s3://shared/acme/"]})],
)
def test_sources_come_from_the_environment_as_json(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: dict[str, list[str]]
) -> None:
    monkeypatch.setenv("MMSEARCH_TENANT_SOURCES", raw)  # compose passes "" when it is unset
    assert Settings().tenant_sources == expected
