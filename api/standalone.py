"""Embedded default: API, worker, embedded Qdrant and (if needed) Redis in one process."""

from __future__ import annotations

import logging
import socket
import threading

from celery import Celery
from waitress.server import create_server

from mmsearch.api.app import create_app
from mmsearch.api.routes.ops import LIVENESS_EXTENSION
from mmsearch.infra.local_redis import LocalRedis
from mmsearch.infra.runtime import Runtime
from mmsearch.infra.settings import Settings
from mmsearch.workers.celery_app import run_worker

log = logging.getLogger(__name__)


def run_standalone(settings: Settings, *, threads: int = 8, worker_concurrency: int = 2) -> int:
    """Serve the API in a thread and run the Celery worker in the main thread until stopped."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    local_redis = None
    if not settings.redis_url:
        local_redis = LocalRedis(settings.data_dir / "redis")
        settings = settings.model_copy(update={"redis_url": local_redis.url})
    runtime = Runtime(settings)
    try:
        runtime.vectors.list_collections()  # open the engine now: fail fast if it is locked
        # The model too: one that cannot load stops the start (the caller says why).
        runtime.encoder(settings.default_model, log_failure=False)
        app = create_app(runtime=runtime)
        celery = app.extensions["celery"]
        if local_redis is not None:
            app.extensions[LIVENESS_EXTENSION] = {"redis": lambda: local_redis.failure}
            requeue_unacked(celery)
            # A crashed Redis comes back with the tasks in hand then listed as unacknowledged:
            # their acks went to the dead server.
            local_redis.supervise(on_restart=lambda: requeue_unacked(celery))
        server = create_server(
            app,
            host=settings.host,
            port=settings.port,
            threads=threads,
            max_request_body_size=settings.max_request_bytes + 1,  # refused before it is read
        )
        port = settings.port
        threading.Thread(target=server.run, name="api", daemon=True).start()
        log.info(
            "mmsearch standalone: API on http://%s:%d, data in %s",
            settings.host,
            port,
            settings.data_dir.resolve(),
        )
        exit_code = run_worker(
            celery,
            f"standalone@{socket.gethostname()}",
            settings.log_level,
            pool="threads",
            concurrency=worker_concurrency,
            without_gossip=True,
            without_mingle=True,
        )
        server.close()
        return exit_code
    finally:
        runtime.close()
        if local_redis is not None:
            local_redis.stop()


def requeue_unacked(celery: Celery) -> int:
    """Put back on their queues the tasks taken but never acknowledged; how many.

    Only for a broker this process owns, at start or after the broker restarted: every
    unacknowledged task was then taken by a worker that can no longer acknowledge it. A task
    still in hand runs twice at worst, which stores the same points and counts them once.
    """
    with celery.connection_for_write() as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as client:
            tags = client.hkeys(channel.unacked_key)
            for tag in tags:
                channel.qos.restore_by_tag(tag, client)
    if tags:
        log.warning("%d task(s) taken but not acknowledged are queued again", len(tags))
    return len(tags)
