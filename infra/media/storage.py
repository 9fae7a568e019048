"""Object storage: fetch bytes and list prefixes for s3:// (boto3) and confined file:// refs."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from mmsearch.infra.catalog.sources import check_tenant_source
from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.media.files import list_files, read_file
from mmsearch.infra.media.formats import MEDIA_EXTENSIONS
from mmsearch.infra.media.http_fetch import fetch_http
from mmsearch.infra.media.uris import MediaRef, file_uri, parse_media_uri
from mmsearch.infra.settings import Settings

log = logging.getLogger(__name__)

_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


def s3_error(ref: MediaRef, exc: ClientError) -> ItemError:
    """The item error an S3 error response stands for."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in _NOT_FOUND:
        what = "bucket" if code == "NoSuchBucket" else "object"
        return ItemError(ItemErrorCode.NOT_FOUND, f"{what} not found: {ref.uri}")
    if code in _DENIED:
        return ItemError(ItemErrorCode.ACCESS_DENIED, f"access denied: {ref.uri}")
    return ItemError(ItemErrorCode.FETCH_FAILED, f"S3 error {code or 'unknown'}: {ref.uri}")


def is_media_name(name: str) -> bool:
    """Whether a key or file name has an image or video extension (used when listing)."""
    return os.path.splitext(name)[1].lower() in MEDIA_EXTENSIONS


class ObjectStore:
    """Reads media by reference; one boto3 client shared by all threads of the process."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._s3: Any = None

    def parse(self, uri: str, *, prefix: bool = False, tenant: str | None = None) -> MediaRef:
        """Validate a reference against this server's schemes and file root, and against the
        sources of `tenant` (forbidden_uri outside them)."""
        ref = parse_media_uri(
            uri,
            allowed_schemes=self._settings.allowed_schemes,
            file_root=self._settings.file_root,
            prefix=prefix,
        )
        check_tenant_source(ref, tenant, self._settings.tenant_sources)
        return ref

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            s = self._settings
            self._s3 = boto3.client(
                "s3",
                endpoint_url=s.s3_endpoint_url,
                region_name=s.s3_region,
                aws_access_key_id=s.s3_access_key.get_secret_value() if s.s3_access_key else None,
                aws_secret_access_key=(
                    s.s3_secret_key.get_secret_value() if s.s3_secret_key else None
                ),
                config=Config(
                    max_pool_connections=max(10, s.fetch_concurrency),
                    connect_timeout=s.fetch_timeout_s,
                    read_timeout=s.fetch_timeout_s,
                    retries={"max_attempts": 3, "mode": "standard"},
                    s3={"addressing_style": "path"},
                ),
            )
        return self._s3

    def fetch(self, ref: MediaRef, limit: int | None = None) -> bytes:
        """The object's bytes, at most `limit` (the image limit unless given); ItemError:
        not_found, access_denied, not_a_file (file:// only), too_large, fetch_failed."""
        limit = limit if limit is not None else self._settings.max_image_bytes
        if ref.scheme == "file":
            return read_file(ref, limit, self._settings.fetch_timeout_s)
        if ref.scheme in {"http", "https"}:
            return fetch_http(
                ref.uri,
                allowed_networks=self._settings.http_allowed_networks,
                max_bytes=limit,
                timeout_s=self._settings.fetch_timeout_s,
            )
        try:
            response = self.s3.get_object(Bucket=ref.bucket, Key=ref.path)
            size = int(response.get("ContentLength") or 0)
            body = response["Body"]
            if size > limit:
                body.close()
                raise ItemError(ItemErrorCode.TOO_LARGE, f"{size} bytes exceeds {limit}")
            data: bytes = body.read(limit + 1)
        except ClientError as exc:
            raise s3_error(ref, exc) from exc
        except BotoCoreError as exc:
            raise ItemError(ItemErrorCode.FETCH_FAILED, f"S3 request failed: {exc}") from exc
        if len(data) > limit:
            raise ItemError(ItemErrorCode.TOO_LARGE, f"object exceeds {limit} bytes")
        return data

    def list_prefix(self, prefix: MediaRef, limit: int, tenant: str | None = None) -> Iterator[str]:
        """References of the image objects under a prefix, in key order, at most `limit`; a
        folder's symlinks are followed only to paths `tenant` may name."""
        if prefix.scheme == "s3":
            listed = self._list_s3(prefix)
        else:
            listed = list_files(prefix, is_media_name, lambda path: self.may_read(path, tenant))
        for count, uri in enumerate(listed):
            if count >= limit:
                raise ItemError(ItemErrorCode.TOO_LARGE, f"prefix holds more than {limit} images")
            yield uri

    def may_read(self, path: Path, tenant: str | None) -> bool:
        """Whether a local path lies within the file root and `tenant`'s sources."""
        try:
            self.parse(file_uri(path), tenant=tenant)
        except ItemError:
            return False
        return True

    def _list_s3(self, prefix: MediaRef) -> Iterator[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=prefix.bucket, Prefix=prefix.path):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if not key.endswith("/") and is_media_name(key):
                        yield f"s3://{prefix.bucket}/{key}"
        except ClientError as exc:
            raise s3_error(prefix, exc) from exc
        except BotoCoreError as exc:
            raise ItemError(ItemErrorCode.FETCH_FAILED, f"S3 listing failed: {exc}") from exc
