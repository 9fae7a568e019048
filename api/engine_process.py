"""Standalone mode's vector engine: the embedded Qdrant engine in a child process of its own.

Every call into qdrant-edge holds its process's GIL for the whole call: a search over 200k
points for about 3 ms, an index build for seconds. In the API process, each of those calls
stalled every other thread, and a text query's forward pass (whose torch ops give the GIL up and
take it back one by one) waited behind them again and again: the slowest 1% of searches spent
about 90 ms in a forward that takes 1 ms alone. Here the engine's calls hold only this process's
GIL; the API and the ingest worker call it over an authenticated private Unix socket
(infra/vectors/shared.py), and take turns only where the engine itself does.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from mmsearch.infra.children import exit_with_parent, name_this_process
from mmsearch.infra.errors import Unavailable
from mmsearch.infra.logs import setup_logging
from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors import open_vector_store
from mmsearch.infra.vectors.shared import EngineAddress, share_vectors

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # opening reads every collection's segments
STOP_GRACE_S = 90.0  # closing waits for an index build in progress (up to 60 s), then flushes


def engine_main(settings: Settings, conn: Connection, parent: int) -> None:
    """The child's body: open the store, send its address (or the error that stopped it) to
    the parent, serve until the parent says stop (or its end of the pipe closes), then close
    the store. Signals do not stop it: a SIGTERM or Ctrl-C sent to the whole process group
    reaches the parent too, which stops the engine after its users."""
    name_this_process("mmsearch-engine")
    setup_logging(settings.log_level, settings.log_format, process="engine")
    exit_with_parent(parent)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    try:
        store = open_vector_store(settings)
    except Exception as exc:
        conn.send(exc)
        return
    try:
        with share_vectors(store) as address:
            conn.send(address)
            try:
                conn.recv()
            except EOFError:  # the parent's end closed: it stopped, or died
                pass
    finally:
        store.close()


class EngineProcess:
    """Starts the engine's process, knows whether it lives, and stops it last."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded process
        self.process: BaseProcess | None = None
        self._conn: Connection | None = None

    def start(self) -> EngineAddress:
        """The address to call the engine at, once it is open; raises what stopped it."""
        self._conn, child = self._context.Pipe()
        args = (self._settings, child, os.getpid())
        self.process = self._context.Process(target=engine_main, args=args, name="engine")
        self.process.start()
        child.close()
        try:
            if not self._conn.poll(START_TIMEOUT_S):
                raise Unavailable(f"the vector engine did not open in {START_TIMEOUT_S:.0f} s")
            answer = self._conn.recv()
        except EOFError:
            self.process.join(5)
            raise Unavailable(
                f"the vector engine's process exited with {self.process.exitcode} while opening"
            ) from None
        except BaseException:
            self.stop()
            raise
        if isinstance(answer, BaseException):
            self.process.join(5)
            raise answer
        log.info("vector engine started (pid %s)", self.process.pid)
        assert isinstance(answer, EngineAddress)
        return answer

    def failure(self) -> str | None:
        """Why the platform cannot go on, once the engine's process has died; else None."""
        if self.process is None or self.process.is_alive():
            return None
        return f"the vector engine's process exited with {self.process.exitcode}"

    def stop(self) -> None:
        """Close the engine (it flushes every collection), or kill it after a grace."""
        process, conn = self.process, self._conn
        if conn is not None:
            conn.close()  # the engine's cue to close
            self._conn = None
        if process is None or not process.is_alive():
            return
        process.join(STOP_GRACE_S)
        if process.is_alive():
            log.warning("the vector engine did not stop in %.0f s; killing it", STOP_GRACE_S)
            process.kill()
            process.join()
