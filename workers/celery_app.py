"""The Celery app: configured once from settings; late acks so a lost worker loses nothing.

Tasks are sent by name (the constants below), so a sender never imports the task bodies.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any

from celery import Celery
from celery.exceptions import SecurityWarning

from mmsearch.infra.settings import Settings

if TYPE_CHECKING:
    from flask import Flask

INGEST_QUEUE = "mmsearch.ingest"
INGEST_BATCH = "mmsearch.ingest_batch"
EXPAND_PREFIX = "mmsearch.expand_prefix"
COPY_COLLECTION = "mmsearch.copy_collection"
FAN_OUT_ITEMS = "mmsearch.fan_out_items"
SYNC_SOURCE = "mmsearch.sync_source"
SYNC_DUE = "mmsearch.sync_due"
FILL_KEYWORDS = "mmsearch.fill_keywords"

celery_app = Celery("mmsearch", include=["mmsearch.workers.tasks", "mmsearch.workers.sweeper"])


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery configuration: the broker, and delivery guarantees."""
    if not settings.redis_url:
        raise ValueError("a Redis URL is required (MMSEARCH_REDIS_URL)")
    return {
        "broker_url": settings.redis_url,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_default_queue": INGEST_QUEUE,
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": transport_options(settings.task_visibility_timeout_s),
    }


def configure_celery(settings: Settings) -> Celery:
    """Configure the Celery app from settings (processes without a Flask app: the worker's
    healthcheck)."""
    celery_app.conf.update(celery_config(settings))
    return celery_app


def celery_init_app(app: Flask) -> Celery:
    """Configure the Celery app once from the Flask app's `CELERY` config and keep it in
    `app.extensions["celery"]`."""
    if "celery" not in app.extensions:
        celery_app.conf.update(app.config["CELERY"])
        app.extensions["celery"] = celery_app
    celery: Celery = app.extensions["celery"]
    return celery


def run_worker(celery: Celery, hostname: str, loglevel: str, **options: Any) -> int:
    """Consume the ingest queue in this process until stopped; the worker's exit code."""
    # Celery warns against a worker running as root because a pickled message could run code.
    # This app accepts JSON only (celery_config), so the risk is not there (Celery itself refuses
    # to start as root if pickle is ever accepted), and containers run as root by default.
    warnings.filterwarnings("ignore", category=SecurityWarning)
    # Celery's start banner (its configuration and task list) is for debugging a setup.
    quiet = logging.getLevelName(loglevel.upper()) != logging.DEBUG
    worker = celery.Worker(
        queues=[INGEST_QUEUE], hostname=hostname, loglevel=loglevel, quiet=quiet, **options
    )
    worker.start()
    return int(worker.exitcode or 0)


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
