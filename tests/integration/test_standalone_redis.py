"""The standalone platform's private redis-server: it dies with the platform, a restart finds no
second server on its folder, it is restarted when it dies, and liveness fails when it cannot be.

Each test runs a platform of its own without MMSEARCH_REDIS_URL, so it starts its private Redis
in `<data>/redis`; processes are found by their working directory (redis-server chdirs there).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from mmsearch.infra.local_redis import LocalRedis, free_port
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform, standalone_env
from tests.fixtures.s3 import upload_bucket


def redis_servers_in(folder: Path) -> list[int]:
    """The pids of live redis-server processes working in `folder`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = stat[stat.index("(") + 1 : stat.rindex(")")]
            state = stat[stat.rindex(")") + 2]
            cwd = os.readlink(entry / "cwd")
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
        if command.startswith("redis-server") and state != "Z" and cwd == str(folder.resolve()):
            pids.append(int(entry.name))
    return pids


def eventually(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """The first truthy result of `check` within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def kill_leftovers(folder: Path) -> None:
    for pid in redis_servers_in(folder):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture()
def private_env(tmp_path: Path, s3_endpoint: str, tiny_model: str) -> Iterator[dict[str, str]]:
    """The environment of a standalone platform that starts its own Redis in <tmp>/data/redis."""
    env = standalone_env("", tmp_path / "data", s3_endpoint, tiny_model, batch_size="8")
    del env["MMSEARCH_REDIS_URL"]
    yield env
    kill_leftovers(tmp_path / "data" / "redis")


@pytest.fixture(scope="module")
def photo_items(s3_client: Any) -> list[dict[str, str]]:
    photos = generated_photos(2)
    bucket = upload_bucket(s3_client, photos, label="supervision")
    return [{"uri": f"s3://{bucket}/{p.name}", "id": p.name} for p in photos]


def test_private_redis_dies_with_a_killed_platform_and_a_restart_runs_one(
    private_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "data" / "redis"
    first = Platform(private_env, tmp_path / "first.log")
    [server] = redis_servers_in(folder)
    first.process.send_signal(signal.SIGKILL)
    first.stop()
    eventually(lambda: not redis_servers_in(folder), 10, f"redis-server {server} still runs")

    second = Platform(private_env, tmp_path / "second.log")
    try:
        assert len(redis_servers_in(folder)) == 1
    finally:
        second.stop()
    assert second.process.returncode != -signal.SIGKILL, "the platform did not stop cleanly"
    # a clean stop stops it too (the platform waits for it; give a loaded machine a moment)
    eventually(lambda: not redis_servers_in(folder), 10, "redis-server outlived a clean stop")


def test_an_orphan_on_the_folder_is_stopped_before_the_new_server_starts(tmp_path: Path) -> None:
    folder = tmp_path / "redis"
    folder.mkdir()
    port = free_port()
    args = ["redis-server", "--port", str(port), "--dir", str(folder), "--appendonly", "yes"]
    orphan = subprocess.Popen([*args, "--pidfile", str(folder / "redis.pid")])
    client = redis.Redis(port=port)
    eventually(lambda: _answers(client), 10, "the orphan answers")
    client.set("kept", "1")  # written by the orphan: must survive the hand-over
    try:
        local = LocalRedis(folder)
        try:
            assert orphan.wait(timeout=1) == 0  # stopped cleanly, its AOF flushed
            assert redis_servers_in(folder) == [local.pid]
            assert redis.Redis.from_url(local.url).get("kept") == b"1"
        finally:
            local.stop()
    finally:
        orphan.kill()
        orphan.wait()


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_a_killed_private_redis_is_restarted_and_the_api_recovers(
    private_env: dict[str, str], tmp_path: Path, tiny_model: str, photo_items: list[Any]
) -> None:
    folder = tmp_path / "data" / "redis"
    platform = Platform(private_env, tmp_path / "platform.log")
    try:
        platform.create_collection("before", tiny_model)
        job_id = platform.ingest("before", {"items": photo_items[:1]})
        platform.wait_job(job_id, timeout_s=60)
        [server] = redis_servers_in(folder)
        os.kill(server, signal.SIGKILL)

        def job_answers() -> bool:
            return platform.request("GET", f"/v1/jobs/{job_id}").status_code == 200

        eventually(job_answers, 15, "the job route answers again")
        assert redis_servers_in(folder) != [server]
        again = platform.ingest("before", {"items": photo_items[1:]})
        assert platform.wait_job(again, timeout_s=60)["status"] == "succeeded"
        assert platform.request("GET", "/healthz").status_code == 200
    finally:
        platform.stop()


def test_liveness_fails_when_the_private_redis_cannot_be_restarted(
    private_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "data" / "redis"
    platform = Platform(private_env, tmp_path / "platform.log")
    try:
        assert platform.request("GET", "/healthz").status_code == 200
        [manifest] = folder.glob("appendonlydir/*.manifest")
        manifest.write_text("not a manifest\n")  # a restart refuses to load this folder
        [server] = redis_servers_in(folder)
        os.kill(server, signal.SIGKILL)

        def dead() -> dict[str, Any] | None:
            response = platform.request("GET", "/healthz")
            return dict(response.json()) if response.status_code == 503 else None

        body = eventually(dead, 30, "/healthz reports the lost Redis")
        assert body["checks"]["redis"] != "ok", body
    finally:
        platform.stop()


@pytest.mark.slow
def test_a_job_goes_on_at_once_after_its_private_redis_was_killed(
    tmp_path: Path, s3_endpoint: str, tiny_model: str, s3_client: Any
) -> None:
    photos = generated_photos(160)
    bucket = upload_bucket(s3_client, photos, label="redis-killed")
    env = standalone_env("", tmp_path / "data", s3_endpoint, tiny_model, batch_size="8")
    del env["MMSEARCH_REDIS_URL"]
    env["MMSEARCH_TASK_VISIBILITY_TIMEOUT_S"] = "3600"  # only a prompt requeue finishes in time
    folder = tmp_path / "data" / "redis"
    platform = Platform(env, tmp_path / "platform.log")
    try:
        platform.create_collection("photos", tiny_model)
        items = [{"uri": f"s3://{bucket}/{p.name}", "id": p.name} for p in photos]
        job_id = platform.ingest("photos", {"items": items})
        eventually(
            lambda: platform.request("GET", f"/v1/jobs/{job_id}").json()["succeeded"] >= 8,
            60,
            "the job makes progress",
        )
        [server] = redis_servers_in(folder)
        os.kill(server, signal.SIGKILL)
        eventually(
            lambda: platform.request("GET", f"/v1/jobs/{job_id}").status_code == 200,
            15,
            "the job route answers again",
        )
        job = platform.wait_job(job_id, timeout_s=90)
        assert (job["status"], job["succeeded"]) == ("succeeded", len(photos)), job
        assert platform.request("GET", "/v1/collections/photos").json()["count"] == len(photos)
    finally:
        platform.stop()
        kill_leftovers(folder)
