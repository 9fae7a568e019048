"""A re-embed job reports itself finished only once its alias points at the new version."""

from __future__ import annotations

from mmsearch.infra.catalog.versions import next_version
from mmsearch.infra.jobs.state import ItemFailure
from mmsearch.infra.jobs.store import JobStatus
from mmsearch.infra.vectors import CollectionSpec, IndexConfig
from mmsearch.workers.pipeline import finish_if_done
from tests.unit.pipeline.conftest import Stores
from tests.unit.pipeline.test_incarnation import ALBUM, create


def reembed_job(stores: Stores, items: int) -> tuple[CollectionSpec, CollectionSpec, str]:
    """The album's first version, the second being built, and the re-embed job that builds it."""
    v1 = create(stores)
    v2 = next_version(v1, 1, stores.encoder.dim, stores.encoder.name, IndexConfig())
    stores.vectors.create_collection(v2)
    stores.jobs.start_migration(ALBUM, v2.name)
    job = stores.jobs.create(v2.name, items, switch_alias=ALBUM, incarnation=v2.incarnation)
    return v1, v2, job


def test_a_counted_reembed_runs_until_its_alias_switched(stores: Stores) -> None:
    v1, v2, job = reembed_job(stores, items=2)
    stores.jobs.complete_batch(job, "b0", succeeded=2, failed=[])

    counted = stores.jobs.get(job)  # every item counted, the switch not yet run
    assert counted.status == JobStatus.RUNNING and counted.switch_due
    assert stores.vectors.spec(ALBUM) == v1

    finish_if_done(stores.jobs, stores.vectors, job)
    assert stores.jobs.get(job).status == JobStatus.SUCCEEDED
    assert stores.vectors.spec(ALBUM).name == v2.name
    assert stores.jobs.migration_target(ALBUM) is None


def test_a_reembed_whose_items_all_failed_ends_without_a_switch(stores: Stores) -> None:
    v1, _, job = reembed_job(stores, items=1)
    lost = ItemFailure("s3://b/a.jpg", "a", "not_found", "no such object")
    stores.jobs.complete_batch(job, "b0", succeeded=0, failed=[lost])
    assert stores.jobs.get(job).status == JobStatus.RUNNING  # the last step is still to run

    finish_if_done(stores.jobs, stores.vectors, job)
    assert stores.jobs.get(job).status == JobStatus.FAILED
    assert stores.vectors.spec(ALBUM) == v1  # the old version keeps serving
    assert stores.jobs.migration_target(ALBUM) is None
