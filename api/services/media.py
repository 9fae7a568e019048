"""An item's media file served through the API (a video to play from a moment, a picture at full
size), with HTTP range requests, under the API's keys and tenants: the media store is never
exposed.

Browsers' `<video>` elements send no Authorization header, so a caller with a key may ask for a
link: the same path with an expiry and an HMAC signature over collection, item, tenant and
expiry. The signing secret comes from config (`MMSEARCH_MEDIA_LINK_SECRET`), else from the
configured keys themselves (every API process of a deployment shares them; changing the keys
ends the links made before).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import mimetypes
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from flask import Response, request, send_file

from mmsearch.api.services.items import find_point
from mmsearch.infra.catalog.payload import ItemPayload
from mmsearch.infra.errors import ItemError, ItemErrorCode, ItemNotFound, Unauthorized
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.vectors import VectorStore

_CHUNK = 1 << 20
DOWNLOAD = "application/octet-stream"
INLINE_PICTURES = frozenset(
    {"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/bmp"}
)
MEDIA_LINKS_EXTENSION = "mmsearch.media_links"  # the app's LinkSigner


@dataclass(frozen=True)
class LinkSigner:
    """Signs and checks media links with one secret."""

    secret: bytes
    ttl_s: int = 3600

    @classmethod
    def from_config(cls, secret: str | None, key_entries: list[str], ttl_s: int) -> LinkSigner:
        if secret:
            return cls(secret.encode(), ttl_s)
        material = "\n".join(["mmsearch media links", *sorted(key_entries)])
        return cls(hashlib.sha256(material.encode()).digest(), ttl_s)

    def _mac(self, collection: str, item_id: str, tenant: str | None, expires: int) -> str:
        message = f"{collection}\x00{item_id}\x00{tenant or ''}\x00{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def link(self, collection: str, item_id: str, tenant: str | None) -> tuple[str, int]:
        """A signed path to the item's media, and when it stops working (unix seconds)."""
        expires = int(time.time()) + self.ttl_s
        query = {"expires": expires, "sig": self._mac(collection, item_id, tenant, expires)}
        if tenant is not None:
            query["tenant"] = tenant
        path = f"/v1/collections/{quote(collection)}/media/{quote(item_id)}"
        return f"{path}?{urlencode(query)}", expires

    def check(self, collection: str, item_id: str) -> str | None:
        """The tenant a signed request's link was made for; Unauthorized when the link is
        missing, altered or expired."""
        args = request.args
        try:
            expires = int(args.get("expires", ""))
        except ValueError:
            raise Unauthorized("a valid API key or media link is required") from None
        tenant = args.get("tenant") or None
        good = self._mac(collection, item_id, tenant, expires)
        given = args.get("sig", "").encode("utf-8", "replace")
        if not hmac.compare_digest(good.encode(), given) or expires < time.time():
            raise Unauthorized("this media link is not valid (altered or expired)")
        return tenant


def serve_media(
    vectors: VectorStore,
    objects: ObjectStore,
    collection: str,
    item_id: str,
    tenant: str | None,
    max_bytes: int,
) -> Response:
    """The item's media file, whole or the byte range asked (206)."""
    spec = vectors.spec(collection)
    item = ItemPayload.from_payload(find_point(vectors, spec, item_id, tenant).payload)
    try:
        ref = objects.parse(item.uri, tenant=item.tenant)  # within its tenant's sources
        mimetype = _playable(ref.path)
        if ref.scheme == "file":
            response = send_file(ref.path, mimetype=mimetype, conditional=True)
        elif ref.scheme == "s3":
            response = _s3_range(objects, ref.bucket, ref.path, mimetype)
        else:  # an http(s) source: read once, within the limit, and answer from memory
            data = io.BytesIO(objects.fetch(ref, limit=max_bytes))
            response = send_file(data, mimetype=mimetype, conditional=True)
    except ItemError as exc:
        if exc.code == ItemErrorCode.NOT_FOUND:
            raise ItemNotFound(f"the media of {item_id!r} is gone", code="media_not_found") from exc
        raise
    except FileNotFoundError as exc:
        raise ItemNotFound(f"the media of {item_id!r} is gone", code="media_not_found") from exc
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Cache-Control"] = "private, max-age=3600"
    # Whatever the file holds, it runs nothing in the page's origin.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if mimetype == DOWNLOAD:
        response.headers["Content-Disposition"] = "attachment"
    return response


def _playable(path: str) -> str:
    """The type a file is served as: a video or a raster picture by its name, else a download
    (never one a browser would run, such as HTML or SVG)."""
    guessed = mimetypes.guess_type(path)[0] or ""
    if guessed.startswith("video/") or (guessed in INLINE_PICTURES):
        return guessed
    return DOWNLOAD


def _s3_range(objects: ObjectStore, bucket: str, key: str, mimetype: str) -> Response:
    """An S3 object's bytes, the range asked read from S3 alone."""
    from botocore.exceptions import ClientError

    try:
        size = int(objects.s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
    except ClientError as exc:
        raise ItemError(ItemErrorCode.NOT_FOUND, "object not found") from exc
    asked = request.range.range_for_length(size) if request.range else None
    if request.range is not None and asked is None:
        response = Response(status=416)
        response.headers["Content-Range"] = f"bytes */{size}"
        return response
    start, stop = asked if asked is not None else (0, size)
    args = {"Bucket": bucket, "Key": key}
    if asked is not None:
        args["Range"] = f"bytes={start}-{stop - 1}"
    body = objects.s3.get_object(**args)["Body"]
    response = Response(body.iter_chunks(_CHUNK), mimetype=mimetype, direct_passthrough=True)
    response.content_length = stop - start
    if asked is not None:
        response.status_code = 206
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    return response
