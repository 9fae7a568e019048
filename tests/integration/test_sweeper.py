"""The outbox and sweeper on a real Redis broker: a task the broker lost is sent again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
from celery import Celery

from mmsearch.infra.jobs.outbox import ACTIVE, SentTask
from mmsearch.infra.runtime import Runtime
from mmsearch.infra.settings import Settings
from mmsearch.workers.celery_app import INGEST_BATCH, celery_config
from mmsearch.workers.dispatch import TaskSender
from mmsearch.workers.sweeper import sweep_once
from tests.fixtures.broker import queued_tasks


def test_sweeper_resends_only_what_a_stalled_job_has_not_counted(
    private_broker: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(private_broker)  # no worker consumes this queue
    settings = Settings(redis_url=private_broker, data_dir=tmp_path)
    celery = Celery("mmsearch", set_as_current=False, config_source=celery_config(settings))
    runtime = Runtime(settings)
    jobs, outbox = runtime.jobs, runtime.outbox
    sender = TaskSender(celery, outbox)
    job_id = jobs.create("c", 16)
    item: dict[str, Any] = {"uri": "s3://b/k.jpg"}
    tasks = {key: SentTask(INGEST_BATCH, [job_id, "c", key, [item], None]) for key in ("b0", "b1")}
    outbox.record(job_id, tasks)
    jobs.mark_started(job_id)
    jobs.complete_batch(job_id, "b0", succeeded=8, failed=[])

    assert sweep_once(sender, stale_after_s=3600) == {}  # still making progress
    assert queued_tasks(client) == []
    assert sweep_once(sender, stale_after_s=0) == {job_id: 1}
    assert queued_tasks(client) == [(INGEST_BATCH, tasks["b1"].args)]  # not the counted b0
    assert sweep_once(sender, stale_after_s=30) == {}  # touched: not stale again at once

    jobs.complete_batch(job_id, "b1", succeeded=8, failed=[])
    assert sweep_once(sender, stale_after_s=0) == {}
    assert job_id.encode() not in client.smembers(ACTIVE)  # a finished job leaves the sweep
    assert outbox.pending(job_id) == {}
    celery.close()
    runtime.close()
