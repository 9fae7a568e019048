"""Re-ranking through the search service: the hits come back in the order of the matching
model's scores computed directly for the same candidates, with those scores; defaults, paging,
unreadable candidates and refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mmsearch.api.schemas.queries import SearchRequest, SearchResponse
from mmsearch.api.schemas.resources import CollectionCreate
from mmsearch.api.services.collections import collection_public, create_collection
from mmsearch.api.services.query import QueryStores
from mmsearch.api.services.search import search
from mmsearch.encoders import Encoder
from mmsearch.encoders.rerankers import get_reranker
from mmsearch.encoders.text_queries import TextQueryCache
from mmsearch.infra.errors import InvalidRequest, ModelNotAllowed
from mmsearch.infra.media.images import decode_image
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors import EdgeVectorStore
from tests.unit.services.conftest import RecordingLoader, index_items

TINY = "itm:tiny-blip/random"
QUERY = "generated picture number 4"


@pytest.fixture()
def allowing(settings: Settings) -> Settings:
    return settings.model_copy(update={"models": [*settings.models, TINY]})


def make(vectors: EdgeVectorStore, load: RecordingLoader, settings: Settings, **extra: Any) -> None:
    body = CollectionCreate.model_validate({"name": "shots", **extra})
    create_collection(vectors, load, settings.allowed_models, settings.default_model, body)


@pytest.fixture()
def run(
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    texts: TextQueryCache,
    objects: ObjectStore,
    allowing: Settings,
    encoder: Encoder,
    file_root: Path,
) -> Any:
    def call(body: dict[str, Any], settings: Settings = allowing) -> SearchResponse:
        stores = QueryStores(vectors, load, texts, objects, settings, get_reranker)
        return search(stores, "shots", SearchRequest.model_validate(body), {})

    return call


def fill(vectors: EdgeVectorStore, encoder: Encoder, file_root: Path) -> None:
    index_items(vectors, encoder, vectors.spec("shots"), file_root, range(12), captions=True)


def direct(file_root: Path, ids: list[str], text: str = QUERY) -> list[tuple[str, float]]:
    """The matching model called directly on the candidates' images, best first."""
    matcher = get_reranker(TINY)
    images = [
        decode_image(
            (file_root / f"{i}.jpg").read_bytes(),
            max_pixels=64_000_000,
            min_side=matcher.image_side,
        )
        for i in ids
    ]
    scores = matcher.score(text, images)
    ranked = sorted(zip(ids, scores, strict=True), key=lambda p: (-p[1], ids.index(p[0])))
    return [(i, float(s)) for i, s in ranked]


def same(hits: list[Any], want: list[tuple[str, float]]) -> None:
    assert [h.id for h in hits] == [i for i, _ in want]
    assert [h.rerank_score for h in hits] == pytest.approx([s for _, s in want], abs=1e-6)


def test_the_first_k_come_back_in_the_models_order(
    run: Any,
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    allowing: Settings,
    encoder: Encoder,
    file_root: Path,
) -> None:
    make(vectors, load, allowing)
    fill(vectors, encoder, file_root)
    plain = run({"text": QUERY, "limit": 12}).results
    candidates = [h.id for h in plain[:8]]
    want = direct(file_root, candidates)
    assert [i for i, _ in want] != candidates  # the model reorders them
    got = run({"text": QUERY, "limit": 5, "rerank": {"model": TINY, "top_k": 8}}).results
    same(got, want[:5])
    original = {h.id: h.score for h in plain}
    assert all(h.score == pytest.approx(original[h.id]) for h in got)  # the search's own score
    # pages: the re-ranked eight, then the search's order for the rest, none repeated
    pages = [
        run({"text": QUERY, "limit": 5, "offset": o, "rerank": {"model": TINY, "top_k": 8}})
        for o in (0, 5, 10)
    ]
    ids = [h.id for page in pages for h in page.results]
    assert ids == [i for i, _ in want] + [h.id for h in plain[8:]]
    assert [h.rerank_score is None for h in pages[1].results] == [False] * 3 + [True] * 2


def test_the_collection_default_and_turning_it_off(
    run: Any,
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    allowing: Settings,
    encoder: Encoder,
    file_root: Path,
) -> None:
    make(vectors, load, allowing, rerank={"model": TINY, "top_k": 6})
    fill(vectors, encoder, file_root)
    public = collection_public(vectors.get_collection("shots"))
    assert public.rerank is not None and (public.rerank.model, public.rerank.top_k) == (TINY, 6)
    plain = run({"text": QUERY, "limit": 6, "rerank": False}).results
    assert all(h.rerank_score is None for h in plain)
    want = direct(file_root, [h.id for h in plain])
    got = run({"text": QUERY, "limit": 6}).results  # the default applies to a text query
    same(got, want)
    by_image = run({"item_id": "p3", "limit": 6}).results  # not to an image query
    assert all(h.rerank_score is None for h in by_image)
    top = run({"text": QUERY, "limit": 3, "rerank": {"top_k": 3}}).results  # its model, 3 deep
    same(top, direct(file_root, [h.id for h in plain[:3]]))


def test_an_unreadable_candidate_follows_the_scored_ones(
    run: Any,
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    allowing: Settings,
    encoder: Encoder,
    file_root: Path,
) -> None:
    make(vectors, load, allowing)
    fill(vectors, encoder, file_root)
    plain = run({"text": QUERY, "limit": 6}).results
    gone = plain[1].id
    (file_root / f"{gone}.jpg").unlink()
    got = run({"text": QUERY, "limit": 6, "rerank": {"model": TINY, "top_k": 6}}).results
    want = direct(file_root, [h.id for h in plain if h.id != gone])
    same(got[:5], want)
    assert (got[5].id, got[5].rerank_score) == (gone, None)


def test_models_outside_the_list_and_bad_requests_are_refused(
    run: Any,
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    allowing: Settings,
    settings: Settings,
) -> None:
    with pytest.raises(ModelNotAllowed):  # a default re-ranker must be allowed too
        make(vectors, load, settings, rerank={"model": TINY})
    with pytest.raises(InvalidRequest) as unknown:
        make(vectors, load, allowing, rerank={"model": "hf:tiny-clip/random"})
    assert unknown.value.code == "unknown_model"
    make(vectors, load, allowing)
    with pytest.raises(ModelNotAllowed):
        run({"text": QUERY, "rerank": {"model": TINY}}, settings=settings)
    with pytest.raises(InvalidRequest) as nameless:
        run({"text": QUERY, "rerank": {"top_k": 5}})
    assert nameless.value.code == "no_reranker"
    for body in (
        {"item_id": "p1", "rerank": {"model": TINY}},
        {"text": QUERY, "group_by": "n", "rerank": {"model": TINY}},
        {"text": QUERY, "rerank": {"model": TINY, "top_k": 201}},
    ):
        with pytest.raises(ValidationError):
            SearchRequest.model_validate(body)
