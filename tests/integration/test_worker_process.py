"""Standalone mode runs ingest in a worker process of its own, below the API's priority, and
starts it again when it dies, with no item lost."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmsearch.infra.settings import Settings
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform, standalone_env
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def nice_values(pid: int) -> list[int]:
    """The nice value of every thread of a process (field 19 of /proc/PID/task/TID/stat)."""
    values = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        values.append(int(fields[16]))
    return values


def worker_pids(pid: int) -> list[int]:
    """The platform's worker processes: its children that multiprocessing spawned."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def one_worker(platform: Platform, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(pids := worker_pids(platform.process.pid)) == 1:
            return pids[0]
        time.sleep(0.2)
    raise AssertionError(f"expected one worker process, found {worker_pids(platform.process.pid)}")


def test_ingest_runs_below_the_api(platform: Platform, s3_client: Any, tiny_model: str) -> None:
    photos = generated_photos(12)
    bucket = upload_bucket(s3_client, photos, label="priority")
    name = new_collection(platform, "priority", tiny_model)
    items = [{"uri": f"s3://{bucket}/{p.name}"} for p in photos]
    job = platform.wait_job(platform.ingest(name, {"items": items}))
    assert job["succeeded"] == len(photos)
    assert set(nice_values(platform.process.pid)) == {0}  # queries keep the CPU first
    default = Settings.model_fields["ingest_nice"].default
    assert default > 0 and set(nice_values(one_worker(platform))) == {default}  # every thread
    hits = platform.search(name, {"text": "a photo", "limit": 3})["results"]
    assert len(hits) == 3


@pytest.fixture()
def private(tmp_path: Path, s3_endpoint: str, tiny_model: str) -> Iterator[Platform]:
    """A platform with a Redis of its own (so it puts a lost worker's tasks back at once)."""
    env = standalone_env("", tmp_path / "data", s3_endpoint, tiny_model, batch_size="8")
    del env["MMSEARCH_REDIS_URL"]
    platform = Platform(env, tmp_path / "platform.log")
    try:
        yield platform
    finally:
        platform.stop()


def test_a_killed_worker_is_started_again(private: Platform, s3_client: Any) -> None:
    photos = generated_photos(40)
    bucket = upload_bucket(s3_client, photos, label="restart")
    name = new_collection(private, "restart", private.env["MMSEARCH_DEFAULT_MODEL"])
    first = one_worker(private)
    items = [{"uri": f"s3://{bucket}/{p.name}", "id": p.name} for p in photos]
    job_id = private.ingest(name, {"items": items})
    os.kill(first, signal.SIGKILL)  # mid-job, or before it began: nothing may be lost
    job = private.wait_job(job_id, timeout_s=180)
    assert (job["succeeded"], job["failed"]) == (len(photos), 0)
    assert private.request("GET", f"/v1/collections/{name}").json()["count"] == len(photos)
    assert one_worker(private) != first


def test_the_worker_leaves_with_a_killed_platform(private: Platform) -> None:
    worker = one_worker(private)
    private.process.send_signal(signal.SIGKILL)
    private.process.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{worker}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{worker}").exists() or _zombie(worker)


def _zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
