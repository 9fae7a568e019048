"""Progress inside a batch: published in steps smaller than the batch, before it is counted."""

from __future__ import annotations

import threading
from typing import Any

import redis

from mmsearch.infra.jobs.progress import BatchProgress
from mmsearch.infra.testing.photos import generated_photos
from tests.unit.pipeline.conftest import COLLECTION, Stores


def photo_items(stores: Stores, count: int) -> list[dict[str, Any]]:
    return [{"uri": stores.put(p.name, p.data), "id": p.name} for p in generated_photos(count)]


def published(state_redis: redis.Redis, job: str, run: Any) -> list[list[str]]:
    """The commands on the job's keys Redis received while `run` ran, in the server's order."""
    end = f"end-of-run:{job}"
    seen: list[list[str]] = []
    with state_redis.monitor() as monitor:
        worker = threading.Thread(target=lambda: (run(), state_redis.set(end, 1)))
        worker.start()
        while end not in (command := monitor.next_command()["command"].split()):
            seen.append(command)
        worker.join()
    return [c for c in seen if any(job in part for part in c)]


def test_a_large_batch_publishes_loaded_and_embedded_in_steps_before_it_is_counted(
    stores: Stores, state_redis: redis.Redis
) -> None:
    items = photo_items(stores, 40)
    job = stores.jobs.create(COLLECTION, 40)
    progress_key = stores.jobs.progress_key(job)

    commands = published(state_redis, job, lambda: stores.run(job, "b0", items))
    writes = [
        (field, int(value))
        for c in commands
        if c[:2] == ["HSET", progress_key]
        for field, value in zip(c[2::2], c[3::2], strict=True)
    ]
    loaded = [value for field, value in writes if field == "b0:loaded"]
    embedded = [value for field, value in writes if field == "b0:embedded"]
    assert loaded == [0, 8, 16, 24, 32, 40]
    assert embedded == [0, 8, 16, 24, 32, 40]
    counted = next(i for i, c in enumerate(commands) if c[0] == "HINCRBY" and c[2] == "succeeded")
    last_write = max(i for i, c in enumerate(commands) if c[:2] == ["HSET", progress_key])
    assert last_write < counted  # every step was published before `succeeded` moved
    state = stores.jobs.get(job)
    assert (state.succeeded, state.loaded, state.embedded) == (40, 0, 0)
    assert state_redis.exists(progress_key) == 0  # removed in the step that counted the batch


def test_a_redelivered_batch_starts_its_progress_over_and_is_counted_once(stores: Stores) -> None:
    items = photo_items(stores, 20)
    job = stores.jobs.create(COLLECTION, 20)
    stores.run(job, "b0", items[:10])
    lost = BatchProgress(stores.jobs, job, "b1", 10)  # a worker lost mid-batch left this
    lost.start()
    lost.loaded(8)
    lost.embedded(8)
    assert stores.jobs.get(job).processing == {"loaded": 8, "embedded": 8}

    BatchProgress(stores.jobs, job, "b1", 10).start()  # the redelivered batch starts over
    assert stores.jobs.get(job).processing == {"loaded": 0, "embedded": 0}
    stores.run(job, "b1", items[10:])
    stores.run(job, "b1", items[10:])  # delivered again after it was counted
    state = stores.jobs.get(job)
    assert (state.succeeded, state.status, state.loaded, state.embedded) == (
        20,
        "succeeded",
        0,
        0,
    )


def test_in_flight_progress_never_shows_more_than_the_pending_items(stores: Stores) -> None:
    job = stores.jobs.create(COLLECTION, 10)
    for batch in ("b0", "b1"):  # two stale batches claiming more than is left
        stale = BatchProgress(stores.jobs, job, batch, 10)
        stale.start()
        stale.loaded(8)
        stale.embedded(8)
    assert stores.jobs.get(job).processing == {"loaded": 10, "embedded": 10}
    stores.jobs.cancel(job)
    assert stores.jobs.get(job).processing == {"loaded": 0, "embedded": 0}
