"""Standalone mode's ingest worker: a child process of the API's, started and kept running.

The API process answers queries; the worker fetches, decodes and embeds in its own process, at
a lower CPU priority, and writes its points through the shared vector store (the embedded
engine's own process, or the API's client of a Qdrant server: infra/vectors/shared.py). A worker
that dies is started again; its tasks in hand are delivered again, and a task stores the same
points however often it runs.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess

from prometheus_client import start_http_server

from mmsearch.infra.children import exit_with_parent, name_this_process
from mmsearch.infra.logs import setup_logging
from mmsearch.infra.runtime import Runtime, set_runtime
from mmsearch.infra.settings import Settings
from mmsearch.infra.threads import lower_this_process
from mmsearch.infra.vectors.shared import EngineAddress, RemoteVectors
from mmsearch.workers.celery_app import configure_celery, run_worker

log = logging.getLogger(__name__)

STOP_GRACE_S = 60.0  # a stopping worker finishes the batches in hand, then is killed
RESTART_BACKOFF_S = (1.0, 30.0)  # first and longest wait before a dead worker starts again


def worker_main(
    settings: Settings,
    engine: EngineAddress,
    concurrency: int,
    hostname: str,
    parent: int,
    metrics_port: int | None,
) -> None:
    """The child's body: consume the ingest queue, writing through the parent's engine;
    `metrics_port`: serve this process's metrics on loopback there, for the parent's /metrics."""
    lower_this_process(settings.ingest_nice)  # first: later threads inherit it
    name_this_process("mmsearch-worker")
    setup_logging(settings.log_level, settings.log_format, process="worker")
    exit_with_parent(parent)
    if metrics_port is not None:
        start_http_server(metrics_port, addr="127.0.0.1")
    runtime = Runtime(settings, vectors=RemoteVectors(engine).as_store())
    set_runtime(runtime)
    celery = configure_celery(settings)
    try:
        code = run_worker(
            celery,
            hostname,
            settings.log_level,
            pool="threads",
            concurrency=concurrency,
            without_gossip=True,
            without_mingle=True,
        )
    finally:
        runtime.close()
    sys.exit(code)


class WorkerSupervisor:
    """Runs the worker process until stopped; starts it again (with backoff) when it dies.

    `metrics_port`: where the worker serves its metrics on loopback (see worker_main).
    `on_lost` runs after a worker died, before the next one starts (to put its unacknowledged
    tasks back on the queue where this process owns the broker).
    `failed` says why the platform cannot go on (its vector engine died), or None: run() then
    stops the worker and returns 1.
    """

    def __init__(
        self,
        settings: Settings,
        engine: EngineAddress,
        concurrency: int,
        hostname: str,
        metrics_port: int | None = None,
        on_lost: Callable[[], object] | None = None,
        failed: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._args = (settings, engine, concurrency, hostname, os.getpid(), metrics_port)
        self._on_lost = on_lost
        self._failed = failed
        self._stop = threading.Event()
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self.process: BaseProcess | None = None

    def run(self) -> int:
        """Supervise until SIGTERM or SIGINT (0), or until the platform failed (1)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())
        backoff = RESTART_BACKOFF_S[0]
        self._start()
        while not self._stop.wait(0.5):
            assert self.process is not None
            if (reason := self._failed()) is not None:
                log.error("%s; stopping", reason)
                self._terminate()
                return 1
            if self.process.is_alive():
                continue
            log.error("the ingest worker exited with %s; starting it again", self.process.exitcode)
            if self._on_lost is not None:
                self._on_lost()
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, RESTART_BACKOFF_S[1])
            self._start()
        self._terminate()
        return 0

    def _start(self) -> None:
        self.process = self._context.Process(target=worker_main, args=self._args, name="worker")
        self.process.start()
        log.info("ingest worker started (pid %s)", self.process.pid)

    def _terminate(self) -> None:
        """Warm shutdown: the worker finishes its batches in hand, or is killed after a grace."""
        process = self.process
        if process is None or not process.is_alive():
            return
        process.terminate()
        process.join(STOP_GRACE_S)
        if process.is_alive():
            log.warning("the ingest worker did not stop in %.0f s; killing it", STOP_GRACE_S)
            process.kill()
            process.join()
