"""Standalone mode runs the embedded engine and ingest in processes of their own: the worker
below the API's priority, started again when it dies with no item lost; the engine at the API's
priority, and the platform stops (to be started again) when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
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


def children_named(pid: int, name: str) -> list[int]:
    """The platform's child processes that go by `name` in ps."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    named = []
    for child in children:
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == name:
                named.append(int(child))
        except FileNotFoundError:  # gone meanwhile
            pass
    return named


def one_child(platform: Platform, name: str, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(pids := children_named(platform.process.pid, name)) == 1:
            return pids[0]
        time.sleep(0.2)
    found = children_named(platform.process.pid, name)
    raise AssertionError(f"expected one {name} process, found {found}")


def one_worker(platform: Platform) -> int:
    return one_child(platform, "mmsearch-worker")


def gone(pid: int, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not Path(f"/proc/{pid}").exists() or _zombie(pid)


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
    assert set(nice_values(one_child(platform, "mmsearch-engine"))) == {0}
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


def test_the_children_leave_with_a_killed_platform(private: Platform) -> None:
    worker, engine = one_worker(private), one_child(private, "mmsearch-engine")
    private.process.send_signal(signal.SIGKILL)
    private.process.wait()
    assert gone(worker) and gone(engine)


def test_a_dead_engine_stops_the_platform_and_loses_nothing(
    private: Platform, s3_client: Any, tmp_path: Path
) -> None:
    photos = generated_photos(16)
    bucket = upload_bucket(s3_client, photos, label="engine")
    name = new_collection(private, "engine", private.env["MMSEARCH_DEFAULT_MODEL"])
    items = [{"uri": f"s3://{bucket}/{p.name}", "id": p.name} for p in photos]
    assert private.wait_job(private.ingest(name, {"items": items}))["succeeded"] == len(photos)
    worker = one_worker(private)
    os.kill(one_child(private, "mmsearch-engine"), signal.SIGKILL)
    assert private.process.wait(timeout=30) == 1  # a supervisor (or the user) starts it again
    assert gone(worker)
    log = (tmp_path / "platform.log").read_text()
    assert "the vector engine's process exited with -9; stopping" in log
    again = Platform(private.env, tmp_path / "again.log")
    try:
        assert again.request("GET", f"/v1/collections/{name}").json()["count"] == len(photos)
        hits = again.search(name, {"text": "a photo", "limit": 3})["results"]
        assert len(hits) == 3
    finally:
        again.stop()


def _zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_a_second_platform_on_the_same_folder_refuses_to_start(private: Platform) -> None:
    pid_file = Path(private.env["MMSEARCH_DATA_DIR"]) / "redis" / "redis.pid"
    redis_pid = int(pid_file.read_text())
    env = {**os.environ, **private.env, "MMSEARCH_PORT": "0", "HF_HUB_OFFLINE": "1"}
    second = subprocess.run(
        [sys.executable, "-m", "mmsearch.api.cli", "standalone"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode != 0
    assert "is in use by another process" in second.stderr and "Traceback" not in second.stderr
    assert private.request("GET", "/v1/collections").status_code == 200  # the first one serves on
    assert int(pid_file.read_text()) == redis_pid and not gone(redis_pid, timeout_s=0)
