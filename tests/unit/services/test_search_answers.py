"""What a search answer says to the caller: recommend names the caller's own missing ids, and
fields that do not apply to an answer are left out rather than sent as null."""

from __future__ import annotations

from typing import Any

import pytest

from mmsearch.api.schemas.queries import FanoutSearchRequest, SearchRequest, SearchResponse
from mmsearch.api.services.query import QueryStores
from mmsearch.api.services.search import fanout, search
from mmsearch.encoders.text_queries import TextQueryCache
from mmsearch.infra.errors import ItemNotFound
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors import CollectionSpec, EdgeVectorStore
from tests.unit.services.conftest import AddPhotos, RecordingLoader


@pytest.fixture()
def stores(
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    texts: TextQueryCache,
    objects: ObjectStore,
    settings: Settings,
    add_photos: AddPhotos,
    photos: CollectionSpec,
) -> QueryStores:
    add_photos(range(4))
    add_photos(range(10, 12), tenant="a")
    return QueryStores(vectors, load, texts, objects, settings)


def run(stores: QueryStores, body: dict[str, Any], tenant: str | None = None) -> SearchResponse:
    return search(stores, "photos", SearchRequest.model_validate(body), {}, tenant)


def test_recommend_names_the_callers_missing_ids(stores: QueryStores) -> None:
    body = {"recommend": {"positive": ["p0", "nope"], "negative": ["gone", "p1"]}}
    with pytest.raises(ItemNotFound) as caught:
        run(stores, body)
    assert caught.value.details["missing"] == ["nope", "gone"]
    assert "nope" in caught.value.message and "gone" in caught.value.message
    # another tenant's item is as missing as one that never existed
    with pytest.raises(ItemNotFound) as caught:
        run(stores, {"recommend": {"positive": ["p10", "p0"]}}, tenant="b")
    assert caught.value.details["missing"] == ["p10", "p0"]


def test_answers_leave_out_fields_that_do_not_apply(stores: QueryStores) -> None:
    plain = run(stores, {"text": "shapes", "limit": 2}).model_dump(mode="json")
    assert set(plain) == {"results", "took_ms"}
    assert all("collection" not in hit and "text" not in hit for hit in plain["results"])
    grouped = run(stores, {"text": "shapes", "group_by": "parity"}).model_dump(mode="json")
    assert set(grouped) == {"results", "groups", "took_ms"} and grouped["results"] == []
    assert all("collection" not in h for g in grouped["groups"] for h in g["results"])
    body = FanoutSearchRequest.model_validate({"text": "shapes", "collections": ["photos"]})
    merged = fanout(stores, body, {}).model_dump(mode="json")
    assert set(merged) == {"results", "took_ms"}
    assert [hit["collection"] for hit in merged["results"]] == ["photos"] * 6
