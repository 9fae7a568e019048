"""The outbox and sweeper on a real Redis broker: a task the broker lost is sent again."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import redis

from mmsearch.infra.jobs.outbox import ACTIVE, SentTask
from mmsearch.infra.runtime import Runtime
from mmsearch.infra.settings import Settings
from mmsearch.workers.celery_app import INGEST_QUEUE, configure_celery
from mmsearch.workers.sweeper import sweep_once


def queued_batches(client: redis.Redis) -> list[str]:
    """Batch keys of the ingest tasks waiting in the broker's queue."""
    keys = []
    for raw in client.lrange(INGEST_QUEUE, 0, -1):
        message = json.loads(raw)
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        keys.append(args[2])
    return keys


def test_sweeper_resends_only_what_a_stalled_job_has_not_counted(
    private_broker: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(private_broker)  # no worker consumes this queue
    settings = Settings(redis_url=private_broker, data_dir=tmp_path)
    configure_celery(settings)
    runtime = Runtime(settings)
    jobs, outbox = runtime.jobs, runtime.outbox
    job_id = jobs.create("c", 16)
    item: dict[str, Any] = {"uri": "s3://b/k.jpg"}
    outbox.record(
        job_id,
        {
            key: SentTask("mmsearch.ingest_batch", [job_id, "c", key, [item], None])
            for key in ("b0", "b1")
        },
    )
    jobs.mark_started(job_id)
    jobs.complete_batch(job_id, "b0", succeeded=8, failed=[])

    assert sweep_once(outbox, stale_after_s=3600) == {}  # still making progress
    assert queued_batches(client) == []
    assert sweep_once(outbox, stale_after_s=0) == {job_id: 1}
    assert queued_batches(client) == ["b1"]  # the counted batch is not sent again
    assert sweep_once(outbox, stale_after_s=30) == {}  # touched: not stale again at once

    jobs.complete_batch(job_id, "b1", succeeded=8, failed=[])
    assert sweep_once(outbox, stale_after_s=0) == {}
    assert job_id.encode() not in client.smembers(ACTIVE)  # a finished job leaves the sweep
    assert outbox.pending(job_id) == {}
    runtime.close()
