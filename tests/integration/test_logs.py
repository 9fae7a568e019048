"""Structured logs: with MMSEARCH_LOG_FORMAT=json every line is a JSON object, and ingest events
name their job, collection and batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mmsearch.infra.local_redis import LocalRedis
from tests.conftest import S3_SECRET
from tests.fixtures.images import generated_photos, upload_bucket
from tests.fixtures.platform import Platform, standalone_env


def test_json_logs_carry_job_and_collection(
    tmp_path: Path, s3_endpoint: str, s3_client: Any, tiny_model: str
) -> None:
    redis = LocalRedis(tmp_path / "redis", persist=False)
    env = standalone_env(
        redis.url, tmp_path / "data", s3_endpoint, tiny_model, log_format="json", batch_size="2"
    )
    platform = Platform(env, tmp_path / "platform.log")
    try:
        bucket = upload_bucket(s3_client, generated_photos(4), label="logs")
        platform.create_collection("logged", tiny_model)
        items = [{"uri": f"s3://{bucket}/gen_000{i}.jpg"} for i in range(4)]
        items.append({"uri": f"s3://{bucket}/missing.jpg"})
        job_id = platform.ingest("logged", {"items": items})
        assert platform.wait_job(job_id)["failed"] == 1
    finally:
        platform.stop()
        redis.stop()
    lines = [line for line in platform.log_path.read_text().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert records and all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    batches = [r for r in records if r.get("job") == job_id]
    assert {r["batch"] for r in batches if "indexed" in r["message"]} == {"b0", "b1", "b2"}
    assert all(r["collection"] == "logged" for r in batches)
    assert S3_SECRET not in platform.log_path.read_text()
