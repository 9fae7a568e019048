"""Keyword search through the services: collections made with or without the index, the
backfill job run by the worker's function on a real Redis, and what searches refuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import ValidationError

from mmsearch.api.schemas.queries import FanoutSearchRequest, SearchRequest, SearchResponse
from mmsearch.api.schemas.ranking import KeywordSettings
from mmsearch.api.schemas.resources import CollectionCreate
from mmsearch.api.services.collections import add_keyword, collection_public, create_collection
from mmsearch.api.services.query import QueryStores
from mmsearch.api.services.search import fanout, search
from mmsearch.encoders import Encoder
from mmsearch.encoders.text_queries import TextQueryCache
from mmsearch.infra.errors import Conflict, InvalidRequest
from mmsearch.infra.jobs.outbox import LISTING, Outbox, SentTask
from mmsearch.infra.jobs.store import JobStatus, JobStore
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors import EdgeVectorStore
from mmsearch.infra.vectors.keyword_store import MISSING_KEYWORD
from mmsearch.workers import keywords
from mmsearch.workers.celery_app import FILL_KEYWORDS
from mmsearch.workers.dispatch import TaskSender
from mmsearch.workers.keywords import fill_keywords
from tests.fixtures.broker import queued_tasks
from tests.unit.services.conftest import RecordingLoader, index_items


def make(vectors: EdgeVectorStore, load: RecordingLoader, settings: Settings, **body: Any) -> None:
    request = CollectionCreate.model_validate(
        {"name": "notes", "payload_schema": {"note": "text", "album": "keyword"}, **body}
    )
    create_collection(vectors, load, settings.allowed_models, settings.default_model, request)


def run(
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    texts: TextQueryCache,
    objects: ObjectStore,
    settings: Settings,
    body: dict[str, Any],
) -> SearchResponse:
    stores = QueryStores(vectors, load, texts, objects, settings)
    return search(stores, "notes", SearchRequest.model_validate(body), {})


@pytest.fixture()
def searcher(
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    texts: TextQueryCache,
    objects: ObjectStore,
    settings: Settings,
) -> Any:
    return lambda body: run(vectors, load, texts, objects, settings, body)


def add_notes(vectors: EdgeVectorStore, encoder: Encoder, file_root: Path) -> None:
    spec = vectors.spec("notes")
    index_items(vectors, encoder, spec, file_root, range(6), captions=True)
    for n, note in ((1, "a dalmatian puppy"), (4, "dalmatian and zebra")):
        point = next(p for p in vectors.scroll("notes", limit=100)[0] if p.payload["id"] == f"p{n}")
        vectors.set_payload("notes", [point.id], {"metadata": {"note": note}})


def test_new_collections_have_a_keyword_index_over_captions_and_text_fields(
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    settings: Settings,
    encoder: Encoder,
    file_root: Path,
    searcher: Any,
) -> None:
    make(vectors, load, settings)
    public = collection_public(vectors.get_collection("notes"))
    assert public.keyword is not None
    assert (public.keyword.fields, public.keyword.language, public.keyword.ready) == (
        ["text", "note"],
        "english",
        True,
    )
    add_notes(vectors, encoder, file_root)
    found = searcher({"text": "dalmatian", "mode": "keyword"}).results
    assert sorted(h.id for h in found) == ["p1", "p4"]  # a text metadata field
    assert [h.id for h in searcher({"text": "number 5", "mode": "keyword"}).results][0] == "p5"
    assert [h.id for h in searcher({"text": "5", "mode": "keyword"}).results] == ["p5"]
    assert searcher({"text": "dalmatian", "mode": "keyword", "filter": _album("x")}).results == []


def _album(value: str) -> dict[str, Any]:
    return {"must": [{"key": "album", "match": {"value": value}}]}


def test_requests_a_mode_cannot_answer_are_refused() -> None:
    for body in (
        {"image": {"uri": "s3://b/k.jpg"}, "mode": "keyword"},
        {"text": "dog", "mode": "keyword", "score_threshold": 0.2},
        {"text": "dog", "mode": "keyword", "group_by": "album"},
        {"text": "dog", "mode": "text", "weights": {"keyword": 2}},
        {"text": "dog", "mode": "hybrid", "weights": {"keyword": -1}},
        {"text": "dog", "mode": "hybrid", "weights": {"words": 1}},
    ):
        with pytest.raises(ValidationError):
            SearchRequest.model_validate(body)
    with pytest.raises(ValidationError):
        KeywordSettings.model_validate({"language": "english", "extra": 1})


def test_a_collection_without_the_index_is_told_how_to_get_it(
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    settings: Settings,
    encoder: Encoder,
    file_root: Path,
    jobs: JobStore,
    outbox: Outbox,
    broker: redis.Redis,
    sender: TaskSender,
    searcher: Any,
) -> None:
    make(vectors, load, settings, keyword=None)
    assert collection_public(vectors.get_collection("notes")).keyword is None
    add_notes(vectors, encoder, file_root)
    with pytest.raises(InvalidRequest) as missing:
        searcher({"text": "dalmatian", "mode": "keyword"})
    assert missing.value.code == "no_keyword_index"
    assert "POST /v1/collections/notes/keyword" in missing.value.message
    plain = searcher({"text": "dalmatian", "mode": "hybrid"}).results  # dense rankings only
    assert len(plain) == 6
    with pytest.raises(InvalidRequest):
        searcher({"text": "dalmatian", "mode": "hybrid", "weights": {"keyword": 1.0}})

    accepted = add_keyword(vectors, jobs, sender, "notes", KeywordSettings())
    assert (accepted.collection, accepted.status, accepted.total) == (
        "notes--v1",
        JobStatus.QUEUED,
        6,
    )
    task = SentTask(FILL_KEYWORDS, [accepted.job_id, "notes--v1"])
    assert outbox.pending(accepted.job_id) == {LISTING: task}
    assert queued_tasks(broker) == [(task.task, task.args)]
    with pytest.raises(Conflict) as building:
        searcher({"text": "dalmatian", "mode": "keyword"})
    assert building.value.code == "keyword_index_building"

    fill_keywords(jobs, vectors, accepted.job_id, "notes--v1")  # what the worker runs
    state = jobs.get(accepted.job_id)
    assert (state.status, state.total, state.succeeded, state.failed) == (
        JobStatus.SUCCEEDED,
        6,
        6,
        0,
    )
    assert outbox.pending(accepted.job_id) == {}
    found = searcher({"text": "dalmatian", "mode": "keyword"}).results
    assert sorted(h.id for h in found) == ["p1", "p4"]


def test_unknown_languages_are_refused(
    vectors: EdgeVectorStore, load: RecordingLoader, settings: Settings
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        make(vectors, load, settings, keyword={"language": "klingon"})
    assert refused.value.code == "unknown_language"


def test_a_fill_delivered_twice_counts_each_item_once(
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    settings: Settings,
    encoder: Encoder,
    file_root: Path,
    jobs: JobStore,
    sender: TaskSender,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keywords, "PAGE", 3)
    make(vectors, load, settings, keyword=None)
    spec = vectors.spec("notes")
    index_items(vectors, encoder, spec, file_root, range(10), captions=True)
    accepted = add_keyword(vectors, jobs, sender, "notes", KeywordSettings())
    # written while it fills, without text: an empty vector marks them done
    index_items(vectors, encoder, vectors.spec("notes"), file_root, range(20, 23), prefix="q")
    assert vectors.count("notes--v1", MISSING_KEYWORD) == 10 and vectors.count("notes--v1") == 13

    real, pages = vectors.fill_keyword, []

    def dies_after_two_pages(name: str, after: str | None, limit: int) -> Any:
        if len(pages) == 2:
            raise RuntimeError("the worker died")
        pages.append(after)
        return real(name, after, limit)

    monkeypatch.setattr(vectors, "fill_keyword", dies_after_two_pages)
    with pytest.raises(RuntimeError):
        fill_keywords(jobs, vectors, accepted.job_id, "notes--v1")
    assert jobs.get(accepted.job_id).succeeded == 6
    monkeypatch.setattr(vectors, "fill_keyword", real)
    fill_keywords(jobs, vectors, accepted.job_id, "notes--v1")  # delivered again
    state = jobs.get(accepted.job_id)
    assert (state.status, state.total, state.succeeded) == (JobStatus.SUCCEEDED, 10, 10)
    assert vectors.spec("notes").keyword is not None and vectors.spec("notes").keyword.ready

    # asked again with the same settings: a job that repairs what is missing (nothing here)
    again = add_keyword(vectors, jobs, sender, "notes", KeywordSettings())
    assert again.total == 0
    fill_keywords(jobs, vectors, again.job_id, "notes--v1")
    assert jobs.get(again.job_id).status == JobStatus.SUCCEEDED
    with pytest.raises(Conflict) as other:
        add_keyword(vectors, jobs, sender, "notes", KeywordSettings(language="german"))
    assert other.value.code == "keyword_index_exists"


def test_fanout_fuses_keywords_only_where_every_collection_has_them(
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    texts: TextQueryCache,
    objects: ObjectStore,
    settings: Settings,
    encoder: Encoder,
    file_root: Path,
) -> None:
    for name, words in (("notes", {}), ("plain", {"keyword": None})):
        body = CollectionCreate.model_validate({"name": name, **words})
        create_collection(vectors, load, settings.allowed_models, settings.default_model, body)
        spec = vectors.spec(name)
        index_items(vectors, encoder, spec, file_root, range(4), captions=True, prefix=name[0])
    stores = QueryStores(vectors, load, texts, objects, settings)
    query = {"text": "picture number 2", "mode": "hybrid", "limit": 8}
    both = fanout(
        stores, FanoutSearchRequest.model_validate({**query, "collections": ["notes", "plain"]}), {}
    )
    vector = encoder.embed_texts(["picture number 2"])[0]
    dense = {
        name: vectors.search_hybrid(name, {"image": vector, "text": vector}, limit=8)
        for name in ("notes", "plain")
    }
    want = sorted(
        ((h.score, name, h.payload["id"]) for name, hits in dense.items() for h in hits),
        key=lambda t: (-t[0], t[1]),
    )
    got = [(h.score, h.collection, h.id) for h in both.results]
    assert [g[2] for g in got] == [w[2] for w in want[:8]]
    alone = fanout(
        stores, FanoutSearchRequest.model_validate({**query, "collections": ["notes"]}), {}
    )
    words = vectors.search_hybrid(
        "notes", {"image": vector, "text": vector}, keyword="picture number 2", limit=8
    )
    assert [h.id for h in alone.results] == [h.payload["id"] for h in words]
