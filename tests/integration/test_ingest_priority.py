"""In the standalone process, ingest work runs below the threads that answer queries."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice")


def nice_values(pid: int) -> list[int]:
    """The nice value of every thread of a process (field 19 of /proc/PID/task/TID/stat)."""
    values = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        values.append(int(fields[16]))
    return values


def test_ingest_threads_yield_to_the_api(
    platform: Platform, s3_client: Any, tiny_model: str
) -> None:
    photos = generated_photos(12)
    bucket = upload_bucket(s3_client, photos, label="priority")
    name = new_collection(platform, "priority", tiny_model)
    items = [{"uri": f"s3://{bucket}/{p.name}"} for p in photos]
    job = platform.wait_job(platform.ingest(name, {"items": items}))
    assert job["succeeded"] == len(photos)
    values = nice_values(platform.process.pid)
    assert 10 in values  # the task threads and the fetch threads they started (default 10)
    assert 0 in values  # the API's threads, and the main thread, keep theirs
    hits = platform.search(name, {"text": "a photo", "limit": 3})["results"]
    assert len(hits) == 3
