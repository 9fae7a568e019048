"""A private redis-server on a free loopback port, for standalone mode and tests."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

log = logging.getLogger(__name__)


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
        self._args = args
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()
        log.info("started redis-server on 127.0.0.1:%d (data in %s)", self.port, data_dir)

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
        self.stop()
        raise RuntimeError("redis-server did not become ready in time")

    def _tail(self) -> str:
        stderr = (
            self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
        )
        log = self._log_path.read_text(errors="replace") if self._log_path.exists() else ""
        return (stderr + log)[-1000:].strip()

    def restart(self) -> None:
        """Shut the server down and start it again on the same port and data (AOF replayed)."""
        self.stop()
        self._process = subprocess.Popen(
            self._args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._wait_ready()

    def stop(self) -> None:
        """Shut the server down (AOF is flushed on SIGTERM)."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def free_port() -> int:
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
