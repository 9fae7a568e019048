"""Media references: parse and confine `s3://bucket/key`, `file:///path` and (when enabled)
`http(s)://host/path` before any I/O; where an http reference leads is checked as it is fetched
(mmsearch.infra.media.http_fetch)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote_from_bytes, unquote_to_bytes, urlsplit

from mmsearch.infra.errors import ItemError, ItemErrorCode

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What a file:// path must escape to come back intact: the escape and delimiter characters, and
# bytes that are not printable UTF-8. Everything else stays readable (spaces, unicode, `+`).
_FILE_URI_ESCAPED = re.compile(r"[%#?\x00-\x1f\x7f\udc80-\udcff]")
MAX_URI_LENGTH = 2048
# Where a file:// reference out of reach is sent instead: the CLI uploads a folder to S3.
_UPLOAD = "upload them: mmsearch ingest FOLDER --upload s3://bucket/prefix"
SCHEMES = ("s3", "file", "http", "https")


@dataclass(frozen=True)
class MediaRef:
    """A validated reference: `scheme` s3, file, http or https; `path` the key, the resolved file
    path, or the URL; `bucket` the bucket or the http host."""

    uri: str
    scheme: str
    bucket: str
    path: str


def _invalid(uri: str, why: str) -> ItemError:
    return ItemError(ItemErrorCode.INVALID_URI, f"{why}: {uri[:200]!r}")


def _forbidden(uri: str, why: str) -> ItemError:
    return ItemError(ItemErrorCode.FORBIDDEN_URI, f"{why}: {uri[:200]!r}")


def _is_text(uri: str) -> bool:
    """Printable and encodable as UTF-8 (no control characters, no lone surrogates)."""
    try:
        uri.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not _CONTROL.search(uri)


def _has_dot_segments(path: str) -> bool:
    return any(part in {".", ".."} for part in path.split("/"))


def parse_media_uri(
    uri: str, *, allowed_schemes: list[str], file_root: Path | None, prefix: bool = False
) -> MediaRef:
    """Validate a reference; raise ItemError (invalid_uri, forbidden_uri); `prefix`: a folder."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_LENGTH or not _is_text(uri):
        raise _invalid(str(uri), "reference must be a printable string of at most 2048 characters")
    scheme = uri.partition("://")[0].lower() if "://" in uri else ""
    if scheme not in SCHEMES:
        raise _invalid(uri, "unsupported scheme (use s3://, file:// or, when enabled, https://)")
    if scheme not in allowed_schemes:
        raise _forbidden(uri, f"scheme {scheme}:// is not enabled on this server")
    if scheme == "s3":
        return _parse_s3(uri, prefix=prefix)
    if scheme in {"http", "https"}:
        return parse_http(uri, prefix=prefix)
    return _parse_file(uri, file_root, prefix=prefix)


def parse_http(uri: str, *, prefix: bool = False) -> MediaRef:
    """An http(s) reference: a host, no credentials, not a prefix (where it may point is
    checked when it is fetched)."""
    if prefix:
        raise _invalid(uri, "http(s) references cannot be listed as a prefix")
    parts = urlsplit(uri)
    if "@" in parts.netloc:
        raise _invalid(uri, "credentials in references are not accepted")
    try:
        host, _ = parts.hostname, parts.port
    except ValueError as exc:
        raise _invalid(uri, "invalid port") from exc
    if not host:
        raise _invalid(uri, "http(s) reference has no host")
    return MediaRef(uri=uri, scheme=parts.scheme.lower(), bucket=host, path=uri)


def _parse_s3(uri: str, *, prefix: bool) -> MediaRef:
    # The key is everything after the bucket, taken literally (as the AWS CLI does): `?`, `#`
    # and `%` are characters of the key, not URL syntax.
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not _BUCKET.match(bucket):
        raise _invalid(uri, "invalid bucket name")
    if _has_dot_segments(key):
        raise _forbidden(uri, "'.' and '..' segments are not allowed in keys")
    if not key and not prefix:
        raise _invalid(uri, "s3 reference has no key")
    if key.endswith("/") and not prefix:
        raise _invalid(uri, "s3 reference names a folder, not an object")
    return MediaRef(uri=uri, scheme="s3", bucket=bucket, path=key)


def _parse_file(uri: str, file_root: Path | None, *, prefix: bool) -> MediaRef:
    if file_root is None:
        raise ItemError(
            ItemErrorCode.FORBIDDEN_URI,
            f"{uri[:200]!r}: file:// is disabled (MMSEARCH_FILE_ROOT is unset); set it to the"
            f" folder of the files, or {_UPLOAD}",
        )
    parts = urlsplit(uri)
    if parts.netloc not in {"", "localhost"} or parts.query or parts.fragment:
        raise _invalid(uri, "file reference must be file:///absolute/path")
    raw = os.fsdecode(unquote_to_bytes(parts.path))  # any byte of a file name, as os.fsdecode
    if not raw.startswith("/") or "\x00" in raw:
        raise _invalid(uri, "file reference must be file:///absolute/path")
    if _has_dot_segments(raw.rstrip("/")):
        raise _forbidden(uri, "'.' and '..' segments are not allowed")
    root = file_root.resolve()
    try:
        resolved = Path(raw).resolve()  # follows symlinks: an escape via a link is caught below
    except (RuntimeError, OSError) as exc:  # a symlink loop, or a path too long
        if not (Path(raw).is_relative_to(root) or Path(raw).is_relative_to(file_root)):
            raise _outside_root(uri, file_root) from exc
        raise ItemError(ItemErrorCode.NOT_FOUND, f"path cannot be resolved: {uri[:200]!r}") from exc
    if not resolved.is_relative_to(root):
        raise _outside_root(uri, file_root)
    return MediaRef(uri=uri, scheme="file", bucket="", path=str(resolved))


def _outside_root(uri: str, file_root: Path) -> ItemError:
    # The same words whether or not the path exists: nothing is told about what lies outside.
    return ItemError(
        ItemErrorCode.FORBIDDEN_URI,
        f"{uri[:200]!r} is not under MMSEARCH_FILE_ROOT ({file_root}); to index files from"
        f" elsewhere, {_UPLOAD}",
    )


def _escaped(path: str) -> str:
    return _FILE_URI_ESCAPED.sub(lambda m: quote_from_bytes(os.fsencode(m[0])), path)


def file_uri(path: Path) -> str:
    """The file:// reference for a local path; parse_media_uri reads back the same path."""
    return "file://" + _escaped(str(PurePosixPath(path)))


def file_uri_below(folder_uri: str, relative: str) -> str:
    """The reference of a path below a folder, spelt as the folder's reference was given (its
    links not resolved, so the user finds the item under the name they used)."""
    return folder_uri + ("" if folder_uri.endswith("/") else "/") + _escaped(relative)
