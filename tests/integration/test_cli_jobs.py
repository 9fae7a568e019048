"""`mmsearch ingest` and `mmsearch jobs` as real processes: the phases and rates they print, the
job list, and retrying chosen error codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

from mmsearch.infra.jobs.progress import BatchProgress
from mmsearch.infra.jobs.store import JobStore
from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.images import truncated_jpeg
from tests.fixtures.platform import new_collection, unique_name
from tests.integration.test_cli import ROOT, mmsearch


def photo_folder(platform: Platform, count: int) -> Path:
    folder = platform.media_root / unique_name("cli-jobs")
    folder.mkdir(parents=True)
    for photo in generated_photos(count):
        (folder / photo.name).write_bytes(photo.data)
    return folder


def test_ingest_says_what_it_sent_and_ends_with_the_job_rate(
    platform: Platform, tiny_model: str
) -> None:
    name = new_collection(platform, "cli-jobs", tiny_model)
    done = mmsearch(platform, "ingest", str(photo_folder(platform, 40)), "--collection", name)
    assert done.returncode == 0, done.stderr
    assert "40 items sent in 1 job" in done.stderr  # before any bar: what it is waiting for
    assert "\r" not in done.stderr  # in a pipe, progress is plain lines, the last one once
    finals = [line for line in done.stderr.splitlines() if line.startswith("done:")]
    assert len(finals) == 1 and "40/40" in finals[0], done.stderr
    job_id = re.findall(r"job ([0-9a-f]{32})", done.stdout)[0]
    job = platform.request("GET", f"/v1/jobs/{job_id}").json()
    assert job["processing"] == {"loaded": 0, "embedded": 0}  # final: nothing in flight
    assert f"{job['items_per_second']:.1f} img/s" in done.stdout


class Output:
    """What a running process has written to a pipe so far, read as it comes."""

    def __init__(self, pipe: int) -> None:
        self.text = ""
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: int) -> None:
        while chunk := os.read(pipe, 4096):
            self.text += chunk.decode(errors="replace")

    def wait_for(self, *needles: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not all(needle in self.text for needle in needles):
            assert time.monotonic() < deadline, f"never printed {needles}: {self.text!r}"
            time.sleep(0.05)


def test_watch_says_what_the_job_is_doing_at_each_step_the_worker_publishes(
    platform: Platform, redis_url: str, tiny_model: str
) -> None:
    # A job no worker was sent, moved along by hand as a worker moves it.
    jobs = JobStore(redis.Redis.from_url(redis_url), max_errors=10, ttl_s=600)
    job_id = jobs.create(new_collection(platform, "cli-jobs", tiny_model), 40)
    watch = subprocess.Popen(
        [sys.executable, "-m", "mmsearch.api.cli", "jobs", "watch", job_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "MMSEARCH_API_URL": platform.base},
    )
    assert watch.stdout is not None and watch.stderr is not None
    shown = Output(watch.stderr.fileno())
    try:
        shown.wait_for("queued: waiting for a worker")
        jobs.mark_started(job_id)
        batch = BatchProgress(jobs, job_id, "b0", 40)
        batch.start()
        batch.loaded(16)
        shown.wait_for("fetching and decoding")
        batch.loaded(40)
        batch.embedded(8)
        shown.wait_for("embedding", " 8/40")
        batch.embedded(16)
        shown.wait_for(" 16/40")
        jobs.complete_batch(job_id, "b0", succeeded=40, failed=[])
        assert watch.wait(timeout=60) == 0
    finally:
        watch.kill()
    assert "40 indexed, 0 failed, 0 skipped of 40" in watch.stdout.read().decode()


def test_watching_a_finished_job_prints_its_own_rate_and_no_bar(
    platform: Platform, tiny_model: str
) -> None:
    name = new_collection(platform, "cli-jobs", tiny_model)
    folder = photo_folder(platform, 12)
    detached = mmsearch(platform, "ingest", str(folder), "--collection", name, "--detach")
    job_id = detached.stdout.strip()
    platform.wait_job(job_id)
    job = platform.request("GET", f"/v1/jobs/{job_id}").json()
    watched = mmsearch(platform, "jobs", "watch", job_id)
    assert watched.returncode == 0, watched.stderr
    assert "img/s" not in watched.stderr  # no bar timing the watch itself
    assert f"12 indexed, 0 failed, 0 skipped of 12, {job['items_per_second']:.1f} img/s" in (
        watched.stdout
    )


def test_jobs_list_shows_a_new_job_as_a_table(platform: Platform, tiny_model: str) -> None:
    name = new_collection(platform, "cli-jobs", tiny_model)
    folder = photo_folder(platform, 3)
    job_id = mmsearch(platform, "ingest", str(folder), "--collection", name, "--detach").stdout
    platform.wait_job(job_id.strip())
    listed = mmsearch(platform, "jobs", "list", "--limit", "50")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["job", "collection", "status", "done/total", "failed", "created"]
    row = next(r.split() for r in rows if r.startswith(job_id.strip()))
    assert row[1:5] == [name, "succeeded", "3/3", "0"]


def test_jobs_retry_sends_again_only_the_chosen_error_codes(
    platform: Platform, tiny_model: str, tmp_path: Path
) -> None:
    name = new_collection(platform, "cli-jobs", tiny_model)
    folder = photo_folder(platform, 2)
    (folder / "broken.jpg").write_bytes(truncated_jpeg())
    manifest = tmp_path / "items.jsonl"
    uris = [file_uri(p) for p in sorted(folder.iterdir())] + [file_uri(folder / "gone.jpg")]
    manifest.write_text("".join(json.dumps({"uri": u}) + "\n" for u in uris))
    job_id = mmsearch(platform, "ingest", str(manifest), "--collection", name, "--detach").stdout
    job_id = job_id.strip()
    platform.wait_job(job_id)
    codes = {e["code"] for e in platform.request("GET", f"/v1/jobs/{job_id}").json()["errors"]}
    assert codes == {"corrupt_image", "not_found"}
    retried = mmsearch(platform, "jobs", "retry", job_id, "--codes", "not_found")
    assert "1 failed item sent again" in retried.stdout, retried.stderr
    job = platform.request("GET", f"/v1/jobs/{job_id}").json()
    assert (job["retries"], job["failed"], job["succeeded"]) == (1, 2, 2)
