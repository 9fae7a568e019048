"""Run `mmsearch standalone` as a real process and talk to it over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import requests

from mmsearch.infra.jobs.store import FINAL_STATUSES
from mmsearch.infra.local_redis import LocalRedis, free_port
from mmsearch.infra.testing.s3 import s3_settings_env


class UnexpectedResponse(AssertionError):
    """The server answered with another status than the one the call expects."""


class Platform:
    """A running standalone server (API + Celery worker + embedded Qdrant)."""

    def __init__(self, env: dict[str, str], log_path: Path, ready_timeout_s: float = 120) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = env
        full_env = {**os.environ, **env, "MMSEARCH_PORT": str(self.port), "HF_HUB_OFFLINE": "1"}
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mmsearch.api.cli", "standalone"],
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.http = requests.Session()
        try:
            self._wait_ready(ready_timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"standalone exited early:\n{self.logs()}")
            with suppress(requests.RequestException):
                if self.http.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"standalone not ready in {timeout_s}s:\n{self.logs()}")

    @property
    def media_root(self) -> Path:
        """The folder `file://` references may read (MMSEARCH_FILE_ROOT)."""
        return Path(self.env["MMSEARCH_FILE_ROOT"])

    def logs(self) -> str:
        """The end of the process's output."""
        return self.log_path.read_text(errors="replace")[-6000:]

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One HTTP request to the server (`path` from the root, e.g. /v1/collections)."""
        return self.http.request(method, f"{self.base}{path}", timeout=60, **kwargs)

    def expect(self, status: int, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The JSON body of a request that must answer `status`."""
        response = self.request(method, path, **kwargs)
        if response.status_code != status:
            raise UnexpectedResponse(
                f"{method} {path}: {response.status_code}, not {status}: {response.text}"
            )
        return dict(response.json())

    def create_collection(self, name: str, model: str, **extra: Any) -> dict[str, Any]:
        """Create a collection; its description."""
        body = {"name": name, "model": model, **extra}
        return self.expect(201, "POST", "/v1/collections", json=body)

    def ingest(self, collection: str, body: dict[str, Any]) -> str:
        """Start an ingest job; its id."""
        path = f"/v1/collections/{collection}/ingest"
        return str(self.expect(202, "POST", path, json=body)["job_id"])

    def wait_job(self, job_id: str, timeout_s: float = 300) -> dict[str, Any]:
        """The job once it is final (with up to 1,000 of its errors)."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.expect(200, "GET", f"/v1/jobs/{job_id}", params={"errors_limit": 1000})
            if job["status"] in FINAL_STATUSES:
                return job
            if time.monotonic() > deadline:
                late = f"job {job_id} not final after {timeout_s}s: {job}"
                raise TimeoutError(f"{late}\n{self.logs()}")
            time.sleep(0.25)

    def search(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        """A search that must succeed; the response body."""
        return self.expect(200, "POST", f"/v1/collections/{collection}/search", json=body)

    def stop(self) -> None:
        """Stop the process (SIGTERM, SIGKILL after 30 s) and close its log."""
        self.process.terminate()  # neither signal does anything once it has exited
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        self.process.kill()
        self.process.wait()
        self._log.close()


def standalone_env(
    redis_url: str, data_dir: Path, s3_endpoint: str, model: str, **extra: str
) -> dict[str, str]:
    """The environment of a standalone platform on the local S3 server (extra: MMSEARCH_*)."""
    return {
        "MMSEARCH_REDIS_URL": redis_url,
        "MMSEARCH_DATA_DIR": str(data_dir),
        **s3_settings_env(s3_endpoint),
        "MMSEARCH_DEFAULT_MODEL": model,
        **{f"MMSEARCH_{key.upper()}": value for key, value in extra.items()},
    }


@contextmanager
def platform_with_redis(
    folder: Path, s3_endpoint: str, model: str, **extra: str
) -> Iterator[Platform]:
    """A standalone platform with a Redis of its own, both keeping their files in `folder`."""
    redis = LocalRedis(folder / "redis", persist=False)
    try:
        env = standalone_env(redis.url, folder / "data", s3_endpoint, model, **extra)
        platform = Platform(env, folder / "platform.log")
        try:
            yield platform
        finally:
            platform.stop()
    finally:
        redis.stop()
