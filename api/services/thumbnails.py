"""Thumbnails of indexed items, served through the API so they obey its keys and tenants (the
web page shows results with them; the media store itself is never exposed)."""

from __future__ import annotations

import io
from dataclasses import replace

from PIL import Image

from mmsearch.api.services.items import find_point
from mmsearch.infra.catalog.payload import ItemPayload
from mmsearch.infra.errors import ItemError, ItemErrorCode, ItemNotFound
from mmsearch.infra.media.images import decode_image
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.video import VideoFrames
from mmsearch.infra.media.video_items import VideoPolicy
from mmsearch.infra.vectors import VectorStore

THUMBNAIL_SIDE = 256


def thumbnail(
    vectors: VectorStore,
    objects: ObjectStore,
    policy: VideoPolicy,
    collection: str,
    item_id: str,
    tenant: str | None = None,
    t: float | None = None,
) -> bytes:
    """A JPEG of the item's image (a video's: its frame `t` seconds in, the first without),
    at most 256 pixels a side; 404 when item or image is gone."""
    spec = vectors.spec(collection)
    point = find_point(vectors, spec, item_id, tenant)
    item = ItemPayload.from_payload(point.payload)
    try:
        image = item_image(objects, policy, item, t, THUMBNAIL_SIDE)
    except ItemError as exc:
        if exc.code == ItemErrorCode.NOT_FOUND:
            raise ItemNotFound(f"the image of {item_id!r} is gone", code="image_not_found") from exc
        raise
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def item_image(
    objects: ObjectStore, policy: VideoPolicy, item: ItemPayload, t: float | None, side: int
) -> Image.Image:
    """An item's image (a video's frame `t` seconds in, the first without), decoded with at
    least `side` pixels on its shorter side where it has them (no more are decoded than
    that needs); raises ItemError."""
    limit = policy.max_bytes if item.video is not None else None
    data = objects.fetch(objects.parse(item.uri, tenant=item.tenant), limit=limit)
    if item.video is not None:
        limits = replace(policy.limits, min_side=side)
        with VideoFrames(io.BytesIO(data), policy.defaults, limits) as video:
            return video.at(t or 0.0)
    return decode_image(data, max_pixels=policy.limits.max_pixels, min_side=side)
