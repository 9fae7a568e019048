"""A source's objects as its syncs see them: listed page by page in key order (never all held at
once), or looked up one key at a time (for bucket events), each with the version it is at."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.media.files import walk_files
from mmsearch.infra.media.storage import ObjectStore, is_media_name, s3_error
from mmsearch.infra.media.uris import MediaRef, file_uri_below
from mmsearch.infra.sync.sources import Source

S3_PAGE = 1000  # keys per listing request (S3's maximum)
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Listed:
    """One object of a source: its `key` below the source, reference and size; an S3 object's
    `etag`, a file's `mtime_ns` and `path`."""

    key: str
    uri: str
    size: int
    etag: str | None = None
    mtime_ns: int | None = None
    path: str | None = None


def source_ref(objects: ObjectStore, source: Source) -> MediaRef:
    """The source's prefix or folder, checked against the server's and its tenant's limits."""
    return objects.parse(source.uri, prefix=True, tenant=source.tenant)


def list_source(
    objects: ObjectStore, source: Source, start_after: str | None = None
) -> Iterator[Listed]:
    """The source's media objects in key order, after `start_after` when given; ItemError when
    the source cannot be listed (not found, access denied...)."""
    ref = source_ref(objects, source)
    listed = _s3_objects(objects, ref, start_after) if ref.scheme == "s3" else None
    if listed is None:
        keep = is_media_name
        walked = walk_files(ref, keep, lambda p: objects.may_read(p, source.tenant), start_after)
        listed = (found for key, path in walked if (found := _file(source, key, path)))
    return (entry for entry in listed if source.takes(entry.key))


def look_up(objects: ObjectStore, source: Source, key: str) -> Listed | None:
    """The object at `key` below the source as it is now; None when it is gone (or not one of
    the source's items); ItemError when that cannot be told (denied, unreachable)."""
    if not source.takes(key):
        return None
    ref = source_ref(objects, source)
    if ref.scheme == "s3":
        try:
            head = objects.s3.head_object(Bucket=ref.bucket, Key=ref.path + key)
        except ClientError as exc:
            error = s3_error(ref, exc)
            if error.code == ItemErrorCode.NOT_FOUND:
                return None
            raise error from exc
        except BotoCoreError as exc:
            raise ItemError(ItemErrorCode.FETCH_FAILED, f"S3 request failed: {exc}") from exc
        etag = str(head.get("ETag", "")).strip('"')
        return Listed(key, source.uri + key, int(head.get("ContentLength") or 0), etag=etag)
    if {".", "..", ""} & set(key.split("/")):
        return None  # names no file below the folder
    try:  # confined as any reference is: to the file root and the tenant's sources
        path = objects.parse(file_uri_below(source.uri, key), tenant=source.tenant).path
    except ItemError:
        return None  # not a file the source could list
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:  # unreadable now: not known to be gone
        raise ItemError(ItemErrorCode.FETCH_FAILED, f"cannot tell: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        return None
    return Listed(key, file_uri_below(source.uri, key), info.st_size, None, info.st_mtime_ns, path)


def probe(objects: ObjectStore, source: Source) -> None:
    """Raise the ItemError a listing of the source would (its bucket or folder missing or
    unreadable), reading one key at most."""
    ref = source_ref(objects, source)
    if ref.scheme == "s3":
        try:
            objects.s3.list_objects_v2(Bucket=ref.bucket, Prefix=ref.path, MaxKeys=1)
        except ClientError as exc:
            raise s3_error(ref, exc) from exc
        except BotoCoreError as exc:
            raise ItemError(ItemErrorCode.FETCH_FAILED, f"S3 listing failed: {exc}") from exc
    elif not os.path.isdir(ref.path):
        raise ItemError(ItemErrorCode.NOT_FOUND, f"folder not found: {ref.uri}")


def content_hash(entry: Listed, limit: int) -> str | None:
    """A digest of a file's bytes (None: not a file, gone, or larger than `limit`)."""
    if entry.path is None or entry.size > limit:
        return None
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(entry.path, "rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _s3_objects(objects: ObjectStore, ref: MediaRef, start_after: str | None) -> Iterator[Listed]:
    paginator = objects.s3.get_paginator("list_objects_v2")
    args = {"Bucket": ref.bucket, "Prefix": ref.path, "PaginationConfig": {"PageSize": S3_PAGE}}
    if start_after:
        args["StartAfter"] = ref.path + start_after
    uri = f"s3://{ref.bucket}/"
    try:
        for page in paginator.paginate(**args):
            for obj in page.get("Contents", []):
                key, etag = obj["Key"], str(obj.get("ETag", "")).strip('"')
                yield Listed(key[len(ref.path) :], uri + key, int(obj.get("Size") or 0), etag)
    except ClientError as exc:
        raise s3_error(ref, exc) from exc
    except BotoCoreError as exc:
        raise ItemError(ItemErrorCode.FETCH_FAILED, f"S3 listing failed: {exc}") from exc


def _file(source: Source, key: str, path: str) -> Listed | None:
    """A listed file as it is now (None once it is gone)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    uri = file_uri_below(source.uri, key)
    return Listed(key, uri, info.st_size, mtime_ns=info.st_mtime_ns, path=path)
