"""Turn a query (text, image, stored item, or a weighted mix) into one unit vector."""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from mmsearch.api.schemas.queries import ImageRef, QueryFields, QueryPart
from mmsearch.encoders import Encoder, EncoderLoader, UnknownModel, WeightsNotAllowed, is_allowed
from mmsearch.encoders.base import root_cause
from mmsearch.encoders.rerankers import Reranker
from mmsearch.encoders.text_queries import TextQueryCache
from mmsearch.infra.catalog.points import item_point_ids
from mmsearch.infra.errors import (
    InvalidRequest,
    ItemNotFound,
    ModelNotAllowed,
    TooLarge,
    Unavailable,
)
from mmsearch.infra.media.images import decode_image
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors import IMAGE_VECTOR, CollectionSpec, VectorStore

Uploads = dict[str, bytes]


@dataclass(frozen=True)
class QueryStores:
    """What a search draws on: the vector store, the encoder loader, the text-query cache, the
    media store for query images, and the settings (image size and pixel limits)."""

    vectors: VectorStore
    load: EncoderLoader
    texts: TextQueryCache
    objects: ObjectStore
    settings: Settings
    rerankers: Callable[[str], Reranker] | None = None

    def encoder(self, model: str) -> Encoder:
        """A collection's encoder; weights outside the configured folders are refused as when a
        client names them (`model_not_allowed`, naming no server path)."""
        try:
            return self.load(model)
        except WeightsNotAllowed as exc:
            raise ModelNotAllowed("this collection's model is not allowed here") from exc

    def reranker(self, model: str, spec: CollectionSpec) -> Reranker:
        """A re-ranker a search names: one of MMSEARCH_MODELS or the collection's default
        (else `model_not_allowed`); `unknown_model` for a name that is no re-ranker, and
        `model_unavailable` where its weights cannot be had."""
        default = spec.rerank.model if spec.rerank else None
        in_use = [default] if default else []
        refused = ModelNotAllowed(
            "this re-ranker is not allowed here; an operator can add it to MMSEARCH_MODELS"
        )
        if self.rerankers is None or not is_allowed(model, self.settings.models, lambda: in_use):
            raise refused
        try:
            return self.rerankers(model)
        except WeightsNotAllowed as exc:
            raise refused from exc
        except (UnknownModel, ValueError) as exc:  # transformers: not a model it can read
            raise InvalidRequest(str(exc), code="unknown_model") from exc
        except (OSError, RuntimeError) as exc:
            raise Unavailable(
                f"re-ranker {model!r} could not be loaded: {root_cause(exc)}",
                code="model_unavailable",
            ) from exc


def image_bytes(
    objects: ObjectStore,
    max_bytes: int,
    ref: ImageRef,
    uploads: Uploads,
    tenant: str | None = None,
) -> bytes:
    """The raw bytes of a query image, from a reference (within the sources of `tenant`),
    base64 or a multipart part."""
    if ref.base64 is not None:
        if len(ref.base64) > max_bytes * 4 // 3 + 4:
            raise TooLarge("image exceeds the size limit")
        try:
            return base64.b64decode(ref.base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidRequest("image.base64 is not valid base64", code="invalid_base64") from exc
    if ref.upload is not None:
        if ref.upload not in uploads:
            raise InvalidRequest(f"no multipart file part named {ref.upload!r}", code="no_upload")
        data = uploads[ref.upload]
        if len(data) > max_bytes:
            raise TooLarge("image exceeds the size limit")
        return data
    return objects.fetch(objects.parse(ref.uri or "", tenant=tenant))


def embed_image(
    objects: ObjectStore,
    settings: Settings,
    encoder: Encoder,
    ref: ImageRef,
    uploads: Uploads,
    tenant: str | None = None,
) -> np.ndarray:
    """Decode and embed one query image (byte and query pixel limits from `settings`)."""
    if not encoder.has_image_tower:
        raise InvalidRequest(
            "image queries are disabled on this API (MMSEARCH_API_IMAGE_QUERIES=false)",
            code="image_queries_disabled",
        )
    s = settings
    data = image_bytes(objects, s.max_image_bytes, ref, uploads, tenant)
    # A decode briefly holds the full-size pixels: bounded per process, so a burst of large
    # query images cannot take memory (and CPU) from everything else.
    with decode_slots(s.query_decode_concurrency):
        image = decode_image(data, max_pixels=s.query_max_image_pixels, min_side=s.decode_min_side)
    vector: np.ndarray = encoder.embed_images([image])[0]
    return vector


@lru_cache(maxsize=8)
def decode_slots(count: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore that lets `count` query images decode at once."""
    return threading.BoundedSemaphore(count)


def item_vector(
    vectors: VectorStore, spec: CollectionSpec, item_id: str, tenant: str | None = None
) -> np.ndarray:
    """An item's stored image vector (no re-embedding)."""
    ids = item_point_ids(spec, [item_id], tenant)
    points = vectors.retrieve(spec.name, ids, with_vectors=True)
    if not points or IMAGE_VECTOR not in points[0].vectors:
        raise ItemNotFound(f"item {item_id!r} not found", details={"id": item_id})
    return np.asarray(points[0].vectors[IMAGE_VECTOR], dtype=np.float32)


def weighted_sum(terms: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """The unit vector of the weighted sum of unit vectors; empty_query when it cancels out."""
    total = np.zeros_like(terms[0][1], dtype=np.float32)
    for weight, vector in terms:
        total += weight * vector
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise InvalidRequest("the weighted query cancels out to a zero vector", code="empty_query")
    result: np.ndarray = total / norm
    return result


def query_vector(
    stores: QueryStores,
    encoder: Encoder,
    fields: QueryFields,
    uploads: Uploads,
    spec: CollectionSpec | None = None,
    tenant: str | None = None,
) -> np.ndarray:
    """The unit vector for whichever query kind was given: texts through the text-query cache,
    images from the media store and stored items of `spec` (both within `tenant`)."""

    def term(part: QueryFields | QueryPart) -> np.ndarray:
        if part.text is not None:
            return stores.texts.embed(encoder, part.text)
        if part.image is not None:
            objects, settings = stores.objects, stores.settings
            return embed_image(objects, settings, encoder, part.image, uploads, tenant)
        assert spec is not None and part.item_id is not None
        return item_vector(stores.vectors, spec, part.item_id, tenant)

    if fields.query is None:
        return term(fields)
    return weighted_sum([(part.weight, term(part)) for part in fields.query])
