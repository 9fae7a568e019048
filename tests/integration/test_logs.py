"""Structured logs: with MMSEARCH_LOG_FORMAT=json every line is a JSON object, and ingest events
name their job, collection and batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import platform_with_redis
from mmsearch.infra.testing.s3 import SECRET_KEY
from tests.fixtures.s3 import upload_bucket


@pytest.mark.slow  # a platform of its own
def test_json_logs_carry_job_and_collection(
    tmp_path: Path, s3_endpoint: str, s3_client: Any, tiny_model: str
) -> None:
    settings = {"log_format": "json", "batch_size": "2"}
    with platform_with_redis(tmp_path, s3_endpoint, tiny_model, **settings) as platform:
        bucket = upload_bucket(s3_client, generated_photos(4), label="logs")
        platform.create_collection("logged", tiny_model)
        items = [{"uri": f"s3://{bucket}/gen_000{i}.jpg"} for i in range(4)]
        items.append({"uri": f"s3://{bucket}/missing.jpg"})
        job_id = platform.ingest("logged", {"items": items})
        assert platform.wait_job(job_id)["failed"] == 1
    lines = [line for line in platform.log_path.read_text().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert records and all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    batches = [r for r in records if r.get("job") == job_id]
    assert {r["batch"] for r in batches if "indexed" in r["message"]} == {"b0", "b1", "b2"}
    assert all(r["collection"] == "logged" for r in batches)
    assert SECRET_KEY not in platform.log_path.read_text()
