"""Ingest options on real batches: auto labels, near-duplicate skipping, tenants."""

from __future__ import annotations

import numpy as np

from mmsearch.encoders.zero_shot import LabelChoice, top_labels
from mmsearch.infra.catalog.points import item_point_id
from mmsearch.infra.errors import ItemErrorCode
from mmsearch.infra.jobs.store import JobStatus
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.workers.enrich import IngestOptions
from tests.unit.pipeline.conftest import COLLECTION, Stores

LABELS = ["dog", "cat", "red car", "mountain", "beach", "tree"]
LABELS += ["boat", "bird", "house", "river", "clock", "horse"]
THRESHOLD = 0.9995  # identical pictures only: distinct random-model pictures score lower


def test_auto_labels_write_the_encoders_top_labels(stores: Stores) -> None:
    photos = generated_photos(6)
    items = [
        {"uri": stores.put(p.name, p.data), "id": p.name, "metadata": {"keep": i}}
        for i, p in enumerate(photos)
    ]
    raw = {"auto_labels": {"labels": LABELS, "top_k": 3, "field": "tags"}}
    stores.run(stores.jobs.create(COLLECTION, 6), "b0", items, IngestOptions.from_dict(raw))

    vectors = np.stack([stores.image_vector(p.data) for p in photos])
    expected = top_labels(stores.encoder, vectors, LabelChoice(tuple(LABELS), top_k=3))
    assert len({tuple(labels) for labels in expected}) > 1  # the pictures' labels differ
    by_id = {p.payload["id"]: p.payload["metadata"] for p in stores.points()}
    for i, photo in enumerate(photos):
        assert by_id[photo.name] == {"keep": i, "tags": expected[i]}


def test_near_duplicates_in_the_batch_and_in_the_store_are_skipped(stores: Stores) -> None:
    a, b, c = generated_photos(3)
    vectors = np.stack([stores.image_vector(p.data) for p in (a, b, c)])
    assert (vectors @ vectors.T)[np.triu_indices(3, 1)].max() < THRESHOLD
    options = IngestOptions(dedup_threshold=THRESHOLD)
    job = stores.jobs.create(COLLECTION, 5)
    first = [
        {"uri": stores.put("a.jpg", a.data), "id": "a"},
        {"uri": stores.put("b.jpg", b.data), "id": "b"},
        {"uri": stores.put("a-copy.jpg", a.data), "id": "a-copy"},
    ]
    second = [
        {"uri": stores.put("b-copy.jpg", b.data), "id": "b-copy"},
        {"uri": stores.put("c.jpg", c.data), "id": "c"},
    ]

    one = stores.run(job, "b0", first, options)
    two = stores.run(job, "b1", second, options)

    assert (one.succeeded, two.succeeded) == (2, 1)
    skipped = [(f.id, f.code, f.message) for f in one.skipped + two.skipped]
    assert skipped == [
        ("a-copy", ItemErrorCode.SKIPPED_DUPLICATE, "near-duplicate of 'a'"),
        ("b-copy", ItemErrorCode.SKIPPED_DUPLICATE, "near-duplicate of 'b'"),
    ]
    assert sorted(p.payload["id"] for p in stores.points()) == ["a", "b", "c"]
    state = stores.jobs.get(job)
    assert (state.status, state.succeeded, state.skipped, state.failed) == (
        JobStatus.SUCCEEDED,
        3,
        2,
        0,
    )


def test_a_tenant_job_stamps_its_items_and_ids_are_per_tenant(stores: Stores) -> None:
    (photo,) = generated_photos(1)
    uri = stores.put(photo.name, photo.data)
    item = {"uri": uri, "id": "x", "tenant": "someone-else"}
    for tenant in ("acme", "zen"):
        options = IngestOptions(tenant=tenant, dedup_threshold=THRESHOLD)
        outcome = stores.run(stores.jobs.create(COLLECTION, 1), "b0", [item], options)
        assert outcome.succeeded == 1 and outcome.skipped == []  # tenants are compared apart
    stores.run(stores.jobs.create(COLLECTION, 1), "b0", [{"uri": uri, "id": "x"}])

    outside = stores.run(
        stores.jobs.create(COLLECTION, 1), "b0", [item], IngestOptions(tenant="globex")
    )
    assert [f.code for f in outside.failures] == ["forbidden_uri"]  # globex has no sources

    spec = stores.vectors.spec(COLLECTION)
    tenant_of = {p.id: p.payload.get("tenant") for p in stores.points()}
    assert tenant_of == {
        item_point_id(spec, "x", "acme"): "acme",
        item_point_id(spec, "x", "zen"): "zen",
        item_point_id(spec, "x"): None,
    }
