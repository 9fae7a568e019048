"""Embedded default, run by one command: the API, the embedded engine in a process of its own
(api/engine_process.py), an ingest worker process, and (if needed) a Redis of its own."""

from __future__ import annotations

import fcntl
import logging
import socket
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import IO

from celery import Celery
from waitress.server import create_server

from mmsearch.api.app import create_app
from mmsearch.api.engine_process import EngineProcess
from mmsearch.api.routes.ops import LIVENESS_EXTENSION, WORKER_METRICS_EXTENSION
from mmsearch.api.worker_process import WorkerSupervisor
from mmsearch.infra.errors import Unavailable
from mmsearch.infra.local_redis import LocalRedis, free_port
from mmsearch.infra.runtime import Runtime
from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors.shared import EngineAddress, RemoteVectors, share_vectors
from mmsearch.workers.dispatch import TaskSender
from mmsearch.workers.schedule import Syncs, run_scheduler

log = logging.getLogger(__name__)

LOCK_FILE = ".standalone.lock"


def run_standalone(settings: Settings, *, threads: int = 8, worker_concurrency: int = 2) -> int:
    """Serve the API in a thread and supervise the worker process until stopped.

    The embedded engine runs in a process of its own, which the API and the worker call; with
    a Qdrant server (`qdrant_url`), the API's client of it is shared with the worker instead.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with claim_data_dir(settings.data_dir):  # before anything in it is touched
        return _serve(settings, threads, worker_concurrency)


def _serve(settings: Settings, threads: int, worker_concurrency: int) -> int:
    local_redis = engine = None
    if not settings.redis_url:
        local_redis = LocalRedis(settings.data_dir / "redis")
        settings = settings.model_copy(update={"redis_url": local_redis.url})
    address: EngineAddress | None = None
    try:
        if not settings.qdrant_url:  # opening fails fast if another process holds the folder
            engine = EngineProcess(settings)
            address = engine.start()
        remote = RemoteVectors(address).as_store() if address is not None else None
        runtime = Runtime(settings, vectors=remote)
    except BaseException:
        _stop(engine, local_redis)
        raise
    try:
        runtime.vectors.list_collections()  # a server must answer now too
        # The model too: one that cannot load stops the start (the caller says why).
        runtime.encoder(settings.default_model, log_failure=False)
        # The worker serves its metrics where the settings say, else on a loopback port.
        own_port = None if settings.worker_metrics_port else free_port()
        metrics_port = settings.worker_metrics_port or own_port
        app = create_app(runtime=runtime)
        app.extensions[WORKER_METRICS_EXTENSION] = f"http://127.0.0.1:{metrics_port}/metrics"
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
        stop_scheduler = start_scheduler(runtime, celery)
        log.info(
            "mmsearch standalone: API on http://%s:%d, data in %s",
            settings.host,
            port,
            settings.data_dir.resolve(),
        )
        shared = nullcontext(address) if address is not None else share_vectors(runtime.vectors)
        with shared as shared_address:
            worker = WorkerSupervisor(
                settings,
                shared_address,
                worker_concurrency,
                f"standalone@{socket.gethostname()}",
                metrics_port=own_port,
                on_lost=(lambda: requeue_unacked(celery)) if local_redis is not None else None,
                failed=engine.failure if engine is not None else lambda: None,
            )
            exit_code = worker.run()
        stop_scheduler.set()
        server.close()
        return exit_code
    finally:
        runtime.close()
        _stop(engine, local_redis)


def start_scheduler(runtime: Runtime, celery: Celery) -> threading.Event:
    """Start syncs on their sources' schedules and bucket events from a thread (a cluster runs
    Celery beat instead); set the event returned to stop it."""
    s = runtime.settings
    syncs = Syncs(
        runtime.jobs, runtime.sources, TaskSender(celery, runtime.outbox), runtime.vectors
    )
    stop = threading.Event()
    args = (syncs, s.bucket_events_key, s.sync_tick_s, stop)
    threading.Thread(target=run_scheduler, args=args, name="scheduler", daemon=True).start()
    return stop


def claim_data_dir(data_dir: Path) -> IO[str]:
    """Lock the data folder for this process's lifetime (the kernel releases it when the
    process dies); Unavailable while another standalone holds it, whose Redis and engine are
    then left alone."""
    handle = open(data_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held until the platform stops
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise Unavailable(
            f"the data folder {data_dir} is in use by another process (a running mmsearch "
            "standalone?)"
        ) from None
    return handle


def _stop(engine: EngineProcess | None, local_redis: LocalRedis | None) -> None:
    """Stop what the platform started, after its users: the engine, then Redis."""
    if engine is not None:
        engine.stop()
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
