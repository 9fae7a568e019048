"""Per-tenant source scopes: the folders, buckets (or key prefixes) and http hosts a tenant key
may name as media. A tenant with no scopes may name nothing; a caller without a tenant is not
confined here (the server-wide checks in `mmsearch.infra.media.uris` still apply)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit

from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.media.uris import MediaRef

SourceScopes = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class SourceScope:
    """One scope: `kind` file, s3 or http; `place` the folder, bucket or host; `prefix` the key
    prefix of an s3 scope ('' for the whole bucket, else ending in '/')."""

    kind: str
    place: str
    prefix: str = ""


def parse_scope(text: str) -> SourceScope:
    """A scope from `file:///folder/`, `s3://bucket/` or `s3://bucket/prefix/`, `https://host/`;
    ValueError for anything else."""
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file" and parts.netloc in {"", "localhost"} and parts.path.startswith("/"):
        folder = Path(os.fsdecode(unquote_to_bytes(parts.path))).resolve()
        return SourceScope("file", str(folder))
    if scheme == "s3" and parts.netloc:
        key = text[len("s3://") + len(parts.netloc) :].lstrip("/")
        # A key prefix names a folder: `s3://shared/a` must not also cover `shared/ab/`.
        return SourceScope("s3", parts.netloc, key if not key or key.endswith("/") else key + "/")
    if scheme in {"http", "https"} and parts.hostname:
        return SourceScope("http", parts.hostname.lower())
    raise ValueError(
        f"not a source scope: {text!r} (file:///folder/, s3://bucket/prefix/, https://host/)"
    )


def _covers(scope: SourceScope, ref: MediaRef) -> bool:
    if ref.scheme == "file":
        return scope.kind == "file" and Path(ref.path).is_relative_to(scope.place)
    if ref.scheme == "s3":
        in_bucket = scope.kind == "s3" and ref.bucket == scope.place
        return in_bucket and ref.path.startswith(scope.prefix)
    return scope.kind == "http" and ref.bucket.lower() == scope.place


def check_tenant_source(ref: MediaRef, tenant: str | None, scopes: SourceScopes) -> None:
    """Raise forbidden_uri when `tenant` may not name `ref` (a parsed reference: file paths
    already resolved, so `..` and symlinks are judged by where they lead)."""
    if tenant is None:
        return
    if not any(_covers(parse_scope(text), ref) for text in scopes.get(tenant, ())):
        raise ItemError(
            ItemErrorCode.FORBIDDEN_URI,
            f"outside the sources of tenant {tenant!r}: {ref.uri[:200]!r}",
        )
