"""Send again the tasks of jobs that stopped moving (see mmsearch.infra.jobs.outbox).

Every worker runs a sweeper thread; a short Redis lock lets one of them sweep per interval.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from mmsearch.infra.runtime import get_runtime
from mmsearch.workers.celery_app import sweep_interval_s
from mmsearch.workers.dispatch import TaskSender

log = logging.getLogger(__name__)

LOCK = "mmsearch:sweeper:lock"
_STOP = threading.Event()


def sweep_once(sender: TaskSender, stale_after_s: float) -> dict[str, int]:
    """Re-send the outstanding tasks of every job idle for `stale_after_s`; {job: tasks sent}."""
    resent: dict[str, int] = {}
    for job_id in sender.outbox.active_jobs():
        tasks = sender.outbox.stalled(job_id, stale_after_s)
        if not tasks:
            continue
        for key, sent in sorted(tasks.items()):
            sender.resend(sent)
            log.debug("job %s: re-sent %s", job_id, key)
        log.warning("job %s idle for %.0f s: re-sent %d task(s)", job_id, stale_after_s, len(tasks))
        resent[job_id] = len(tasks)
    return resent


def _loop(celery: Celery, interval_s: float, stale_after_s: float) -> None:
    while not _STOP.wait(interval_s):
        try:
            runtime = get_runtime()
            if runtime.redis.set(LOCK, "1", nx=True, px=int(interval_s * 1000)):
                sweep_once(TaskSender(celery, runtime.outbox), stale_after_s)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("sweeper: Redis unreachable (%s); next try in %.0f s", exc, interval_s)
        except Exception:
            log.exception("sweeper failed; next try in %.0f s", interval_s)


@worker_ready.connect
def _start(sender: Any, **_: Any) -> None:
    """Sweep from this worker, re-sending through the Celery app it runs (`sender` is its
    consumer)."""
    visibility = get_runtime().settings.task_visibility_timeout_s
    _STOP.clear()
    args = (sender.app, sweep_interval_s(visibility), visibility)
    thread = threading.Thread(target=_loop, args=args, name="sweeper", daemon=True)
    thread.start()


@worker_shutdown.connect
def _stop(**_: Any) -> None:
    _STOP.set()
