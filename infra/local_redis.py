"""A private redis-server on a free loopback port, for standalone mode and tests.

It dies with the process that started it (Linux), it stops a server a crashed predecessor left on
its folder before starting (found by the pid file), and `supervise` restarts it when it dies.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from functools import cache
from pathlib import Path

import redis

log = logging.getLogger(__name__)

PID_FILE = "redis.pid"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class LocalRedis:
    """A redis-server child process with AOF persistence in its own folder."""

    def __init__(self, data_dir: Path, *, persist: bool = True) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server not found: install it (apt-get install redis-server) "
                "or set MMSEARCH_REDIS_URL"
            )
        data_dir = data_dir.resolve()  # redis-server chdirs into --dir before opening files
        data_dir.mkdir(parents=True, exist_ok=True)
        self._log_path = data_dir / "redis.log"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(data_dir)]
        args += ["--save", "", "--appendonly", "yes" if persist else "no"]
        args += ["--protected-mode", "yes", "--logfile", str(self._log_path)]
        args += ["--pidfile", str(data_dir / PID_FILE)]
        self._args = args
        self._lock = threading.Lock()  # one start or stop at a time
        self._stopped = threading.Event()
        self.failure: str | None = None  # set once supervision gave up restarting it
        stop_orphan(data_dir)  # two servers on one AOF folder would corrupt it
        self._start()
        log.info("started redis-server on 127.0.0.1:%d (data in %s)", self.port, data_dir)

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self._process.pid

    def _start(self) -> None:
        self._process = subprocess.Popen(
            self._args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent(),
        )
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 20.0) -> None:
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with code {self._process.returncode}: {self._tail()}"
                )
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
            finally:
                client.close()
        self._terminate()
        raise RuntimeError("redis-server did not become ready in time")

    def _tail(self) -> str:
        stderr = (
            self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
        )
        log = self._log_path.read_text(errors="replace") if self._log_path.exists() else ""
        return (stderr + log)[-1000:].strip()

    def restart(self) -> None:
        """Shut the server down and start it again on the same port and data (AOF replayed)."""
        with self._lock:
            self._terminate()
            self._start()

    def supervise(
        self,
        on_restart: Callable[[], object] = lambda: None,
        *,
        interval_s: float = 0.5,
        attempts: int = 5,
    ) -> None:
        """Restart the server (same port and data) whenever it exits until `stop`, calling
        `on_restart` after each restart; after `attempts` failed starts in a row, give up and
        record why in `failure`."""
        # The thread that starts the server must live as long as it: the server dies with it.
        args = (on_restart, interval_s, attempts)
        threading.Thread(target=self._supervise, args=args, name="redis", daemon=True).start()

    def _supervise(
        self, on_restart: Callable[[], object], interval_s: float, attempts: int
    ) -> None:
        failures = 0
        while not self._stopped.wait(interval_s * (1 + failures)):
            with self._lock:
                if self._stopped.is_set() or self._process.poll() is None:
                    continue
                if not failures:
                    code = self._process.returncode
                    log.error(
                        "redis-server on port %d exited (%s); starting it again", self.port, code
                    )
                try:
                    self._start()
                    failures = 0
                    on_restart()
                except RuntimeError as exc:
                    failures += 1
                    log.error("redis-server start %d of %d failed: %s", failures, attempts, exc)
                    if failures == attempts:  # the reason is in the log, not in a probe's body
                        self.failure = f"redis-server down: {attempts} starts in a row failed"
                        return

    def stop(self) -> None:
        """Shut the server down (AOF is flushed on SIGTERM) and stop supervising it."""
        self._stopped.set()
        with self._lock:
            self._terminate()

    def _terminate(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the child sent SIGTERM when the thread that started it ends
    (Linux's PR_SET_PDEATHSIG); None elsewhere."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


@cache
def _prctl() -> Callable[[int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl: Callable[[int, int], int] = libc.prctl
    return prctl


def stop_orphan(data_dir: Path, timeout_s: float = 30.0) -> None:
    """Stop a redis-server left running on `data_dir` (its pid file names it), so that its
    AOF is flushed and no two servers ever write the folder."""
    try:
        pid = int((data_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return
    if not runs_redis_in(pid, data_dir):
        return  # a stale file: that process is gone, or the pid is another program's now
    log.warning("stopping redis-server %d left running on %s", pid, data_dir)
    with suppress(ProcessLookupError):  # it may exit of itself meanwhile
        os.kill(pid, signal.SIGTERM)
        if not _exits(pid, data_dir, timeout_s):
            os.kill(pid, signal.SIGKILL)
            _exits(pid, data_dir, timeout_s)


def _exits(pid: int, data_dir: Path, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while runs_redis_in(pid, data_dir):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def runs_redis_in(pid: int, data_dir: Path) -> bool:
    """Whether process `pid` is a live redis-server working in `data_dir` (Linux's /proc)."""
    try:
        command = Path(f"/proc/{pid}/comm").read_text().strip()
        cwd = os.readlink(f"/proc/{pid}/cwd")  # fails for a zombie: it has exited
    except OSError:
        return False
    return command.startswith("redis-server") and cwd == str(data_dir)


def free_port() -> int:
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
