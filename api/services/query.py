"""Turn a query (text, image, stored item, or a weighted mix) into one unit vector."""

from __future__ import annotations

import base64
import binascii
import threading

import numpy as np

from mmsearch.api.schemas.queries import ImageRef, QueryFields, QueryPart
from mmsearch.api.services.text_queries import TextQueryCache
from mmsearch.encoders import Encoder
from mmsearch.infra.catalog.points import item_point_ids
from mmsearch.infra.errors import InvalidRequest, ItemNotFound, TooLarge
from mmsearch.infra.media.images import decode_image
from mmsearch.infra.runtime import Runtime
from mmsearch.infra.vectors import IMAGE_VECTOR, CollectionSpec

Uploads = dict[str, bytes]

_CACHE: TextQueryCache | None = None
_CACHE_LOCK = threading.Lock()


def text_cache(runtime: Runtime) -> TextQueryCache:
    """The process's text-query embedding cache (sized from settings on first use)."""
    global _CACHE
    with _CACHE_LOCK:
        if _CACHE is None:
            s = runtime.settings
            _CACHE = TextQueryCache(s.query_cache_size, s.query_batch_max)
        return _CACHE


def image_bytes(runtime: Runtime, ref: ImageRef, uploads: Uploads) -> bytes:
    """The raw bytes of a query image, from a reference, base64 or a multipart part."""
    limit = runtime.settings.max_image_bytes
    if ref.base64 is not None:
        if len(ref.base64) > limit * 4 // 3 + 4:
            raise TooLarge("image exceeds the size limit")
        try:
            return base64.b64decode(ref.base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequest("image.base64 is not valid base64", code="invalid_base64") from exc
    if ref.upload is not None:
        if ref.upload not in uploads:
            raise InvalidRequest(f"no multipart file part named {ref.upload!r}", code="no_upload")
        data = uploads[ref.upload]
        if len(data) > limit:
            raise TooLarge("image exceeds the size limit")
        return data
    return runtime.objects.fetch(runtime.objects.parse(ref.uri or ""))


def embed_image(runtime: Runtime, encoder: Encoder, ref: ImageRef, uploads: Uploads) -> np.ndarray:
    """Decode and embed one query image."""
    if not encoder.has_image_tower:
        raise InvalidRequest(
            "image queries are disabled on this API (MMSEARCH_API_IMAGE_QUERIES=false)",
            code="image_queries_disabled",
        )
    s = runtime.settings
    data = image_bytes(runtime, ref, uploads)
    image = decode_image(data, max_pixels=s.max_image_pixels, min_side=s.decode_min_side)
    vector: np.ndarray = encoder.embed_images([image])[0]
    return vector


def item_vector(
    runtime: Runtime, spec: CollectionSpec, item_id: str, tenant: str | None = None
) -> np.ndarray:
    """An item's stored image vector (no re-embedding)."""
    ids = item_point_ids(spec, [item_id], tenant)
    points = runtime.vectors.retrieve(spec.name, ids, with_vectors=True)
    if not points or IMAGE_VECTOR not in points[0].vectors:
        raise ItemNotFound(f"item {item_id!r} not found", details={"id": item_id})
    return np.asarray(points[0].vectors[IMAGE_VECTOR], dtype=np.float32)


def _weighted_sum(
    runtime: Runtime,
    encoder: Encoder,
    parts: list[QueryPart],
    spec: CollectionSpec | None,
    uploads: Uploads,
    tenant: str | None,
) -> np.ndarray:
    cache = text_cache(runtime)
    total = np.zeros(encoder.dim, dtype=np.float32)
    for part in parts:
        if part.text is not None:
            vector = cache.embed(encoder, part.text)
        elif part.image is not None:
            vector = embed_image(runtime, encoder, part.image, uploads)
        else:
            assert spec is not None and part.item_id is not None
            vector = item_vector(runtime, spec, part.item_id, tenant)
        total += part.weight * vector
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise InvalidRequest("the weighted query cancels out to a zero vector", code="empty_query")
    return total / norm


def query_vector(
    runtime: Runtime,
    encoder: Encoder,
    fields: QueryFields,
    spec: CollectionSpec | None,
    uploads: Uploads,
    tenant: str | None = None,
) -> np.ndarray:
    """The unit vector for whichever query kind was given (items looked up in `tenant`)."""
    if fields.text is not None:
        return text_cache(runtime).embed(encoder, fields.text)
    if fields.image is not None:
        return embed_image(runtime, encoder, fields.image, uploads)
    if fields.item_id is not None:
        assert spec is not None
        return item_vector(runtime, spec, fields.item_id, tenant)
    return _weighted_sum(runtime, encoder, fields.query or [], spec, uploads, tenant)
