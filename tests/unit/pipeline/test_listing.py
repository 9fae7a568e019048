"""Listing jobs: a folder prefix or a whole collection, queued as batches and counted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from mmsearch.infra.catalog.payload import ItemPayload
from mmsearch.infra.catalog.points import item_point_id
from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.jobs.store import JobStatus
from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.vectors import CollectionSpec, FieldType, VectorPoint
from mmsearch.workers.celery_app import INGEST_BATCH
from mmsearch.workers.dispatch import TaskSender, chunked
from mmsearch.workers.listing import collection_items, prefix_items, queue_listing
from tests.fixtures.broker import queued_tasks
from tests.unit.pipeline.conftest import COLLECTION, Stores

NAMES = ["shots/b/2.jpg", "shots/a/1.jpg", "shots/c.JPG", "shots/a/0.png", "shots/z.jpeg"]
# Listed in key order, as S3 lists the same keys: subfolders' images among the folder's own.
WALKED = ["shots/a/0.png", "shots/a/1.jpg", "shots/b/2.jpg", "shots/c.JPG", "shots/z.jpeg"]


def queue(
    stores: Stores,
    sender: TaskSender,
    job_id: str,
    collection: str,
    items: Any,
    options: Any = None,
) -> dict[str, list[dict[str, Any]]]:
    """Queue a listing in batches of two (each in the outbox and the broker's queue); the items of
    each batch sent, by batch key."""
    chunks = chunked(items, 2)
    queue_listing(stores.jobs, sender, stores.vectors, job_id, collection, chunks, options)
    sent = stores.outbox.pending(job_id)
    queued = {args[2]: (task, args) for task, args in queued_tasks(stores.jobs.redis)}
    assert queued == {key: (task.task, task.args) for key, task in sent.items()}
    assert {task.task for task in sent.values()} <= {INGEST_BATCH}
    assert all(task.args[:3] == [job_id, collection, key] for key, task in sent.items())
    assert all(task.args[4] == options for task in sent.values())
    return {key: sent[key].args[3] for key in sorted(sent)}


def test_a_prefix_is_listed_in_order_queued_and_counted(stores: Stores, sender: TaskSender) -> None:
    for name, photo in zip(NAMES, generated_photos(len(NAMES)), strict=True):
        stores.put(name, photo.data)
    stores.put("shots/readme.txt", b"not a picture")
    stores.put("other/elsewhere.jpg", generated_photos(1)[0].data)
    prefix = file_uri(stores.root / "shots") + "/"
    listed = list(prefix_items(stores.objects, prefix, {"src": "shots"}, 50))
    assert [item["uri"] for item in listed] == [file_uri(stores.root / n) for n in WALKED]
    assert all(item["metadata"] == {"src": "shots"} for item in listed)

    job = stores.jobs.create(COLLECTION, 0, listing=True)
    progress: list[tuple[int, bool]] = []

    def watched(items: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for index, item in enumerate(items):
            if index % 2 == 0 and index:  # a chunk of two was queued: the job counts it
                state = stores.jobs.get(job)
                progress.append((state.total, state.listing))
            yield item

    listed_again = watched(prefix_items(stores.objects, prefix, {}, 50))
    batches = queue(stores, sender, job, COLLECTION, listed_again)

    assert progress == [(2, True), (4, True)]
    assert list(batches) == ["p0-0", "p1-0", "p2-0"]
    assert [i["uri"] for b in batches.values() for i in b] == [i["uri"] for i in listed]
    state = stores.jobs.get(job)
    assert (state.total, state.listing, state.status) == (5, False, JobStatus.RUNNING)
    for key, items in batches.items():
        stores.run(job, key, items)
    state = stores.jobs.get(job)
    assert (state.status, state.succeeded) == (JobStatus.SUCCEEDED, 5)
    assert stores.outbox.pending(job) == {}


def test_a_cancelled_listing_queues_no_more_batches(stores: Stores, sender: TaskSender) -> None:
    photos = generated_photos(6)
    items = [{"uri": stores.put(p.name, p.data)} for p in photos]
    job = stores.jobs.create(COLLECTION, 0, listing=True)

    def cancelled_after_one_chunk() -> Iterator[dict[str, Any]]:
        for index, item in enumerate(items):
            if index == 2:
                stores.jobs.cancel(job)
            yield item

    batches = queue(stores, sender, job, COLLECTION, cancelled_after_one_chunk())

    assert list(batches) == ["p0-0"]
    state = stores.jobs.get(job)
    assert (state.status, state.total) == (JobStatus.CANCELLED, 2)


def test_a_prefix_past_the_object_limit_is_refused(stores: Stores) -> None:
    for name, photo in zip(NAMES, generated_photos(len(NAMES)), strict=True):
        stores.put(name, photo.data)
    prefix = file_uri(stores.root / "shots") + "/"
    with pytest.raises(ItemError) as refused:
        list(prefix_items(stores.objects, prefix, {}, 4))
    assert refused.value.code == ItemErrorCode.TOO_LARGE


def test_a_collection_copy_lists_every_item_and_indexes_it_again(
    stores: Stores, sender: TaskSender
) -> None:
    photos = generated_photos(5)
    items: list[dict[str, Any]] = [
        {"uri": stores.put(p.name, p.data), "metadata": {"n": i}} for i, p in enumerate(photos)
    ]
    items[0]["id"] = "first"
    items[1]["text"] = "a caption"
    items[2]["tenant"] = "acme"
    stores.run(stores.jobs.create(COLLECTION, 5), "b0", items)
    target = CollectionSpec(
        "pics--v2", stores.encoder.dim, stores.encoder.name, version=2, id_namespace=COLLECTION
    )
    stores.vectors.create_collection(target)

    listed = list(collection_items(stores.vectors, COLLECTION))

    spec = stores.vectors.spec(COLLECTION)
    known = [{**item, "id": item.get("id", item["uri"])} for item in items]  # uri: the default id
    by_id = {item_point_id(spec, i["id"], i.get("tenant")): i for i in known}
    assert listed == [by_id[p.id] for p in stores.points()]  # in point id order
    job = stores.jobs.create(target.name, 0, listing=True)
    batches = queue(stores, sender, job, target.name, collection_items(stores.vectors, COLLECTION))
    for key, batch in batches.items():
        stores.run(job, key, batch, collection=target.name)
    assert stores.jobs.get(job).succeeded == 5
    copied = [(p.id, p.payload) for p in stores.points(target.name)]
    assert copied == [(p.id, p.payload) for p in stores.points()]


def test_a_collection_copy_converts_values_stored_before_types_were_declared(
    stores: Stores,
) -> None:
    schema = {"metadata.n": FieldType.INTEGER, "metadata.day": FieldType.DATETIME}
    legacy = CollectionSpec("legacy", stores.encoder.dim, stores.encoder.name, schema)
    stores.vectors.create_collection(legacy)
    stored = [
        {"n": "14", "day": "2024-05-01", "note": "7"},
        {"n": "abc", "day": "2024-05-01T12:00:00+02:00"},
        {"n": [1, "2"]},
    ]
    vector = np.ones(stores.encoder.dim, dtype=np.float32) / np.sqrt(stores.encoder.dim)
    points = [
        VectorPoint(
            item_point_id(legacy, f"i{n}"),
            {"image": vector},
            ItemPayload(uri=f"s3://b/{n}.jpg", id=f"i{n}", metadata=meta).to_payload(),
        )
        for n, meta in enumerate(stored)
    ]
    stores.vectors.upsert("legacy", points)

    listed = {item["id"]: item["metadata"] for item in collection_items(stores.vectors, "legacy")}

    assert listed == {
        "i0": {"n": 14, "day": "2024-05-01T00:00:00Z", "note": "7"},
        "i1": {"n": "abc", "day": "2024-05-01T10:00:00Z"},  # kept: a copy never drops an item
        "i2": {"n": [1, 2]},
    }
