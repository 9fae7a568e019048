"""The Celery app: configured once from settings; late acks so a lost worker loses nothing."""

from __future__ import annotations

from celery import Celery

from mmsearch.infra.settings import Settings

INGEST_QUEUE = "mmsearch.ingest"

celery_app = Celery(
    "mmsearch",
    include=["mmsearch.workers.tasks", "mmsearch.workers.sweeper", "mmsearch.workers.metrics"],
)


def configure_celery(settings: Settings, redis_url: str | None = None) -> Celery:
    """Point the app at the broker and set delivery guarantees."""
    broker = redis_url or settings.redis_url
    if not broker:
        raise ValueError("a Redis URL is required (MMSEARCH_REDIS_URL)")
    celery_app.conf.update(
        broker_url=broker,
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_default_queue=INGEST_QUEUE,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options(settings.task_visibility_timeout_s),
    )
    return celery_app


def transport_options(visibility_timeout_s: int) -> dict[str, int]:
    """Redis transport options: a task a lost worker held is redelivered once it has been
    unacknowledged for `visibility_timeout_s`, found by a sweep every tenth of that (at most a
    minute). Kombu's default sweeps only every 100 s."""
    return {
        "visibility_timeout": visibility_timeout_s,
        "unacked_restore_interval": sweep_interval_s(visibility_timeout_s),
        "unacked_restore_throttle": 1,
    }


def sweep_interval_s(visibility_timeout_s: int) -> int:
    """How often lost tasks are looked for: a tenth of the visibility timeout, 1 s to 60 s."""
    return max(1, min(60, visibility_timeout_s // 10))
