"""One ingest batch end to end: indexed items, bad items, redelivery, captions, cancel, outages."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mmsearch.infra.catalog.points import item_point_id
from mmsearch.infra.errors import ItemErrorCode
from mmsearch.infra.jobs.store import JobStatus
from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.vectors import IMAGE_VECTOR, TEXT_VECTOR, CollectionSpec
from mmsearch.workers.pipeline import UpsertFailed
from tests.fixtures.images import png_bomb, truncated_jpeg
from tests.unit.pipeline.conftest import COLLECTION, Stores


def photo_items(stores: Stores, count: int) -> tuple[list[dict[str, Any]], list[bytes]]:
    """`count` generated photos written to the media folder, as items with ids and metadata."""
    photos = generated_photos(count)
    items = [
        {"uri": stores.put(p.name, p.data), "id": f"photo-{i}", "metadata": {"n": i}}
        for i, p in enumerate(photos)
    ]
    return items, [p.data for p in photos]


def test_a_batch_indexes_every_item_once_under_its_point_id(stores: Stores) -> None:
    items, images = photo_items(stores, 3)
    del items[2]["id"]  # an item without an id is known by its uri
    job = stores.jobs.create(COLLECTION, 3)

    outcome = stores.run(job, "b0", items)

    assert (outcome.succeeded, outcome.failures, outcome.skipped) == (3, [], [])
    spec = stores.vectors.spec(COLLECTION)
    known_as = ["photo-0", "photo-1", items[2]["uri"]]
    row_of = {item_point_id(spec, name): row for row, name in enumerate(known_as)}
    points = stores.points()
    assert sorted(p.id for p in points) == sorted(row_of)
    for point in points:
        row = row_of[point.id]
        assert point.payload == {
            "uri": items[row]["uri"],
            "id": known_as[row],
            "metadata": {"n": row},
        }
        assert set(point.vectors) == {IMAGE_VECTOR}
        expected = stores.image_vector(images[row])
        np.testing.assert_allclose(point.vectors[IMAGE_VECTOR], expected, atol=1e-5)
    state = stores.jobs.get(job)
    assert (state.status, state.succeeded, state.failed, state.pending) == (
        JobStatus.SUCCEEDED,
        3,
        0,
        0,
    )


def test_point_ids_are_the_same_in_every_version_of_a_collection(stores: Stores) -> None:
    items, _ = photo_items(stores, 2)
    spec = CollectionSpec(
        "pics--v2",
        stores.encoder.dim,
        stores.encoder.name,
        public_name="pics",
        version=2,
        id_namespace=COLLECTION,
    )
    stores.vectors.create_collection(spec)
    stores.run(stores.jobs.create(COLLECTION, 2), "b0", items)
    stores.run(stores.jobs.create("pics--v2", 2), "b0", items, collection="pics--v2")
    first = [p.id for p in stores.points()]
    assert [p.id for p in stores.points("pics--v2")] == first
    assert len(set(first)) == 2


def test_bad_items_are_recorded_with_their_codes_and_the_rest_indexed(stores: Stores) -> None:
    good, _ = photo_items(stores, 2)
    bad = {
        "missing": (file_uri(stores.root / "never-written.jpg"), ItemErrorCode.NOT_FOUND),
        "truncated": (stores.put("cut.jpg", truncated_jpeg()), ItemErrorCode.CORRUPT_IMAGE),
        "text": (stores.put("notes.jpg", b"just some words\n" * 20), ItemErrorCode.NOT_AN_IMAGE),
        "bytes": (stores.put("big.jpg", b"\xff" * 300_000), ItemErrorCode.TOO_LARGE),
        "pixels": (stores.put("bomb.png", png_bomb(20_000, 20_000)), ItemErrorCode.TOO_LARGE),
        "outside": ("file:///etc/hostname", ItemErrorCode.FORBIDDEN_URI),
    }
    bad_items = [{"uri": uri, "metadata": {}, "id": name} for name, (uri, _) in bad.items()]
    items = [good[0], *bad_items, good[1]]
    job = stores.jobs.create(COLLECTION, len(items))

    outcome = stores.run(job, "b0", items)

    assert outcome.succeeded == 2 and outcome.skipped == []
    assert {f.id: f.code for f in outcome.failures} == {n: code for n, (_, code) in bad.items()}
    assert [f.item for f in outcome.failures] == bad_items  # kept whole, to be sent again
    state = stores.jobs.get(job)
    assert (state.status, state.succeeded, state.failed) == (
        JobStatus.COMPLETED_WITH_ERRORS,
        2,
        len(bad),
    )
    assert {e.id: e.code for e in state.errors} == {n: code for n, (_, code) in bad.items()}
    spec = stores.vectors.spec(COLLECTION)
    indexed = sorted(p.id for p in stores.points())
    assert indexed == sorted(item_point_id(spec, f"photo-{i}") for i in range(2))


def test_a_redelivered_batch_indexes_nothing_twice(stores: Stores) -> None:
    items, _ = photo_items(stores, 3)
    job = stores.jobs.create(COLLECTION, 3)
    stores.run(job, "b0", items)
    first = [(p.id, p.payload) for p in stores.points()]

    again = stores.run(job, "b0", items)

    assert again.succeeded == 3  # written again, over the same points
    assert [(p.id, p.payload) for p in stores.points()] == first
    assert stores.vectors.get_collection(COLLECTION).count == 3
    state = stores.jobs.get(job)
    assert (state.succeeded, state.failed, state.total) == (3, 0, 3)  # counted once


def test_a_caption_gives_the_item_a_text_vector(stores: Stores) -> None:
    items, _ = photo_items(stores, 2)
    items[0]["text"] = "a red ball on the grass"
    stores.run(stores.jobs.create(COLLECTION, 2), "b0", items)

    spec = stores.vectors.spec(COLLECTION)
    captioned, plain = stores.vectors.retrieve(
        COLLECTION, [item_point_id(spec, "photo-0"), item_point_id(spec, "photo-1")], True
    )
    assert captioned.payload["text"] == "a red ball on the grass"
    expected = stores.encoder.embed_texts(["a red ball on the grass"])[0]
    np.testing.assert_allclose(captioned.vectors[TEXT_VECTOR], expected, atol=1e-5)
    assert set(plain.vectors) == {IMAGE_VECTOR} and "text" not in plain.payload


def test_a_cancelled_job_indexes_and_counts_nothing(stores: Stores) -> None:
    items, _ = photo_items(stores, 2)
    job = stores.jobs.create(COLLECTION, 4)
    stores.run(job, "b0", items[:1])
    stores.jobs.cancel(job)

    outcome = stores.run(job, "b1", items[1:])

    assert outcome.cancelled and outcome.succeeded == 0
    assert stores.vectors.get_collection(COLLECTION).count == 1
    state = stores.jobs.get(job)
    assert (state.status, state.succeeded) == (JobStatus.CANCELLED, 1)


def test_a_store_that_refuses_the_points_raises_upsert_failed(stores: Stores) -> None:
    items, _ = photo_items(stores, 2)
    wrong = CollectionSpec("wrong-dim", stores.encoder.dim + 1, stores.encoder.name)
    stores.vectors.create_collection(wrong)
    job = stores.jobs.create("wrong-dim", 2)

    with pytest.raises(UpsertFailed):
        stores.run(job, "b0", items, collection="wrong-dim")

    state = stores.jobs.get(job)  # not counted: the task retries the batch
    assert (state.succeeded, state.failed, state.pending) == (0, 0, 2)


def test_an_unreachable_store_raises_upsert_failed(stores: Stores) -> None:
    items, _ = photo_items(stores, 1)
    job = stores.jobs.create(COLLECTION, 1)
    stores.vectors.close()

    with pytest.raises(UpsertFailed, match="unreachable"):
        stores.run(job, "b0", items)

    assert stores.jobs.get(job).pending == 1


def test_a_deleted_collection_fails_the_batch_items(stores: Stores) -> None:
    items, _ = photo_items(stores, 2)
    job = stores.jobs.create(COLLECTION, 2)
    stores.vectors.delete_collection(COLLECTION)

    outcome = stores.run(job, "b0", items)

    assert [f.code for f in outcome.failures] == [ItemErrorCode.COLLECTION_DELETED] * 2
    state = stores.jobs.get(job)
    assert (state.status, state.failed) == (JobStatus.FAILED, 2)
