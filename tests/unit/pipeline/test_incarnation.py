"""Jobs are bound to the collection they were created for, not to its name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mmsearch.infra.catalog.versions import first_version, next_version
from mmsearch.infra.errors import CollectionNotFound, ItemErrorCode
from mmsearch.infra.jobs.store import JobStatus
from mmsearch.infra.vectors import CollectionSpec, IndexConfig
from mmsearch.workers.dispatch import TaskSender, chunked
from mmsearch.workers.items import IngestItem
from mmsearch.workers.listing import queue_listing
from mmsearch.workers.pipeline import embed_and_upsert
from tests.fixtures.broker import queued_tasks
from tests.unit.pipeline.conftest import Stores
from tests.unit.pipeline.test_batches import photo_items

ALBUM = "album"


def create(stores: Stores) -> CollectionSpec:
    """Version 1 of a new collection `album`, served under its name."""
    spec = first_version(ALBUM, stores.encoder.dim, stores.encoder.name, {}, IndexConfig())
    stores.vectors.create_collection(spec)
    stores.vectors.set_alias(ALBUM, spec.name)
    return spec


def delete(stores: Stores, spec: CollectionSpec) -> None:
    stores.vectors.delete_alias(ALBUM)
    stores.vectors.delete_collection(spec.name)


def test_a_batch_for_a_deleted_and_recreated_collection_writes_nothing(stores: Stores) -> None:
    items, _ = photo_items(stores, 4)
    old = create(stores)
    job = stores.jobs.create(ALBUM, 4, incarnation=old.incarnation)
    stores.run(job, "b0", items[:2], collection=ALBUM)
    delete(stores, old)
    new = create(stores)
    assert new.name == old.name and new.incarnation != old.incarnation

    outcome = stores.run(job, "b1", items[2:], collection=ALBUM)

    assert outcome.succeeded == 0
    assert [f.code for f in outcome.failures] == [ItemErrorCode.COLLECTION_DELETED] * 2
    assert stores.vectors.get_collection(ALBUM).count == 0
    state = stores.jobs.get(job)
    assert (state.status, state.succeeded, state.failed, state.pending) == (
        JobStatus.COMPLETED_WITH_ERRORS,
        2,
        2,
        0,
    )


def test_a_collection_made_again_while_a_batch_is_embedded_gets_none_of_it(
    stores: Stores,
) -> None:
    items, _ = photo_items(stores, 2)
    old = create(stores)  # the spec the batch was checked against, before embedding
    delete(stores, old)
    create(stores)

    with pytest.raises(CollectionNotFound):
        embed_and_upsert(
            stores.vectors,
            stores.media,
            stores.encoder,
            old,
            [IngestItem.from_dict(item) for item in items],
        )

    assert stores.vectors.get_collection(ALBUM).count == 0


def test_a_job_follows_its_collection_to_a_new_version(stores: Stores) -> None:
    items, _ = photo_items(stores, 2)
    v1 = create(stores)
    job = stores.jobs.create(ALBUM, 2, incarnation=v1.incarnation)
    v2 = next_version(v1, 1, stores.encoder.dim, stores.encoder.name, IndexConfig())
    stores.vectors.create_collection(v2)
    stores.vectors.set_alias(ALBUM, v2.name)  # a re-embed finished meanwhile

    outcome = stores.run(job, "b0", items, collection=ALBUM)

    assert (outcome.succeeded, outcome.failures) == (2, [])
    assert stores.vectors.get_collection(v2.name).count == 2
    assert v2.incarnation not in (None, v1.incarnation)


def test_a_reembed_never_writes_into_nor_switches_to_a_version_made_again(
    stores: Stores,
) -> None:
    items, _ = photo_items(stores, 4)
    v1 = create(stores)
    v2 = next_version(v1, 1, stores.encoder.dim, stores.encoder.name, IndexConfig())
    stores.vectors.create_collection(v2)
    stores.jobs.start_migration(ALBUM, v2.name)
    job = stores.jobs.create(v2.name, 4, switch_alias=ALBUM, incarnation=v2.incarnation)
    stores.run(job, "b0", items[:2], collection=v2.name)
    stores.vectors.delete_collection(v2.name)
    again = next_version(v1, 1, stores.encoder.dim, stores.encoder.name, IndexConfig())
    stores.vectors.create_collection(again)

    outcome = stores.run(job, "b1", items[2:], collection=v2.name)

    assert [f.code for f in outcome.failures] == [ItemErrorCode.COLLECTION_DELETED] * 2
    assert stores.vectors.get_collection(again.name).count == 0
    assert stores.jobs.get(job).status == JobStatus.COMPLETED_WITH_ERRORS
    assert stores.vectors.spec(ALBUM) == v1  # not switched to the version made again
    assert stores.jobs.migration_target(ALBUM) is None


def test_a_job_without_a_recorded_collection_still_runs(stores: Stores) -> None:
    items, _ = photo_items(stores, 2)
    create(stores)
    job = stores.jobs.create(ALBUM, 2)  # queued by an earlier release

    assert stores.run(job, "b0", items, collection=ALBUM).succeeded == 2


def test_a_listing_stops_when_its_collection_is_recreated(
    stores: Stores, sender: TaskSender
) -> None:
    old = create(stores)
    job = stores.jobs.create(ALBUM, 0, listing=True, incarnation=old.incarnation)
    items = [{"uri": f"file:///x/{i}.jpg", "metadata": {}} for i in range(6)]
    chunks = chunked(items, 2)

    def listed() -> Iterator[list[dict[str, Any]]]:
        for index, chunk in enumerate(chunks):
            if index == 1:
                delete(stores, old)
                create(stores)
            yield chunk

    queue_listing(stores.jobs, sender, stores.vectors, job, ALBUM, listed())

    state = stores.jobs.get(job)
    assert state.status == JobStatus.FAILED and state.message is not None
    assert state.message.startswith(ItemErrorCode.COLLECTION_DELETED)
    queued = [args[2] for _, args in queued_tasks(stores.jobs.redis)]
    assert queued == ["p0-0"]  # nothing queued once the collection was made again
