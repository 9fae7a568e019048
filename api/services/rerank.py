"""Re-rank a search's first K hits with an image-text matching model (see
mmsearch.encoders.rerankers): each candidate's image is read as a thumbnail is, at the model's
input size, and scored together with the query text; the hits come back by that score.

A candidate whose image cannot be read (gone, or no longer decodable) keeps its place after the
scored ones, without a `rerank_score`, rather than failing the search.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from mmsearch.api.schemas.queries import SearchRequest
from mmsearch.api.services.query import QueryStores
from mmsearch.api.services.thumbnails import item_image
from mmsearch.encoders.rerankers import Reranker
from mmsearch.infra.catalog.payload import ItemPayload
from mmsearch.infra.errors import InvalidRequest, ItemError
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.video_items import VideoPolicy
from mmsearch.infra.vectors import CollectionSpec, Hit

log = logging.getLogger(__name__)

_READERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="rerank-read")


@dataclass(frozen=True)
class RerankPlan:
    """A search's re-ranking: which model, over how many of its first hits."""

    reranker: Reranker
    top_k: int

    def window(self, body: SearchRequest) -> SearchRequest:
        """The search to run: from the first hit, through the re-ranked ones and the page."""
        depth = max(self.top_k, body.offset + body.limit)
        return body.model_copy(update={"offset": 0, "limit": depth})

    def apply(self, stores: QueryStores, body: SearchRequest, hits: list[Hit]) -> list[Reranked]:
        """The window's hits: its first `top_k` re-ranked, then the rest in the search's order."""
        assert body.text is not None  # rerank_plan's check
        policy = VideoPolicy.from_settings(stores.settings)
        head, tail = hits[: self.top_k], hits[self.top_k :]
        ranked = rerank(self.reranker, stores.objects, policy, body.text, head)
        return ranked + [Reranked(hit, None) for hit in tail]


def rerank_plan(
    stores: QueryStores, spec: CollectionSpec, body: SearchRequest
) -> RerankPlan | None:
    """How the search re-ranks: as it asks, else as the collection's default re-ranker does for
    a text query (`"rerank": false` turns the default off); None where nothing is re-ranked."""
    if body.rerank is False:
        return None
    default = spec.rerank
    if body.rerank is None:
        usable = body.text is not None and body.group_by is None and body.recommend is None
        if default is None or not usable:
            return None
        return RerankPlan(stores.reranker(default.model, spec), default.top_k)
    model = body.rerank.model or (default.model if default else None)
    if model is None:
        raise InvalidRequest(
            "rerank needs a model: name one (itm:...), or give the collection a default re-ranker",
            code="no_reranker",
        )
    return RerankPlan(stores.reranker(model, spec), body.rerank.top_k)


@dataclass(frozen=True)
class Reranked:
    """A hit with the matching model's score (None: its image could not be read)."""

    hit: Hit
    score: float | None


def rerank(
    reranker: Reranker,
    objects: ObjectStore,
    policy: VideoPolicy,
    text: str,
    hits: list[Hit],
) -> list[Reranked]:
    """`hits` by the matching score of `text` with each one's image, best first (ties keep the
    search's order); those whose image cannot be read follow, in the search's order."""
    side = reranker.image_side

    def read(hit: Hit) -> Image.Image | None:
        item = ItemPayload.from_payload(hit.payload, hit.id)
        try:
            return item_image(objects, policy, item, item.video.t if item.video else None, side)
        except ItemError as exc:
            log.warning("re-rank: the image of %s cannot be read (%s)", item.id, exc.code)
            return None

    images = list(_READERS.map(read, hits))
    readable = [(i, image) for i, image in enumerate(images) if image is not None]
    scores = reranker.score(text, [image for _, image in readable])
    indexes = [i for i, _ in readable]
    scored = sorted(zip(indexes, scores, strict=True), key=lambda pair: (-float(pair[1]), pair[0]))
    ranked = [Reranked(hits[i], float(score)) for i, score in scored]
    return ranked + [Reranked(hits[i], None) for i, image in enumerate(images) if image is None]
