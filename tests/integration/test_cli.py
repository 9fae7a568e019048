"""The `mmsearch` client commands, run as real processes against the real API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from mmsearch.infra.testing.s3 import s3_settings_env
from tests.fixtures.platform import new_collection, unique_name
from tests.fixtures.s3 import upload_bucket

ROOT = Path(__file__).resolve().parents[2]


def mmsearch(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mmsearch.api.cli", *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,  # no terminal: commands that would ask refuse instead
        text=True,
        cwd=ROOT,
        env={**os.environ, "MMSEARCH_API_URL": platform.base, "HF_HUB_OFFLINE": "1"},
        timeout=180,
    )


@pytest.fixture(scope="module")
def bucket(s3_client: Any) -> str:
    return upload_bucket(s3_client, generated_photos(6), prefix="set/", label="cli")


@pytest.mark.slow
def test_collection_commands_and_prefix_ingest_with_progress(
    platform: Platform, bucket: str, tiny_model: str
) -> None:
    name = unique_name("cli")
    created = mmsearch(
        platform, "collections", "create", name, "--model", tiny_model, "--no-keyword"
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["name"] == name
    assert json.loads(created.stdout)["keyword"] is None
    done = mmsearch(platform, "ingest", f"s3://{bucket}/set/", "--collection", name)
    assert done.returncode == 0, done.stderr
    assert "succeeded: 6 indexed, 0 failed" in done.stdout
    assert "6/6" in done.stderr and "img" in done.stderr  # the progress bar, with a rate
    listed = mmsearch(platform, "collections", "list")
    assert any(line.split()[:2] == [name, "6"] for line in listed.stdout.splitlines())
    assert json.loads(mmsearch(platform, "collections", "show", name).stdout)["count"] == 6
    table = mmsearch(platform, "search", "red shapes", "--collection", name, "--limit", "3")
    assert table.returncode == 0 and "3 results in" in table.stdout
    words = ("search", "red", "--collection", name, "--mode", "keyword")
    refused = mmsearch(platform, *words)
    assert refused.returncode == 2 and "422 no_keyword_index" in refused.stderr
    filled = mmsearch(platform, "collections", "keyword", name)
    assert filled.returncode == 0, filled.stderr
    assert "succeeded: 6 indexed, 0 failed" in filled.stdout
    shown = json.loads(mmsearch(platform, "collections", "show", name).stdout)
    assert shown["keyword"]["ready"] is True
    assert "0 results in" in mmsearch(platform, *words).stdout  # these items have no captions
    deleted = mmsearch(platform, "collections", "delete", name, "--yes")
    assert deleted.returncode == 0 and json.loads(deleted.stdout)["deleted"] is True


@pytest.mark.slow
def test_manifest_ingest_detached_then_watched_and_retried(
    platform: Platform, bucket: str, tiny_model: str, tmp_path: Path
) -> None:
    name = new_collection(platform, "cli", tiny_model)
    manifest = tmp_path / "items.csv"
    rows = [
        f"s3://{bucket}/set/{p.name},{p.name},{p.caption},{i}"
        for i, p in enumerate(generated_photos(3))
    ]
    rows.append(f"s3://{bucket}/set/missing.jpg,missing,,9")
    manifest.write_text("uri,id,text,shelf\n" + "\n".join(rows) + "\n")
    detached = mmsearch(platform, "ingest", str(manifest), "--collection", name, "--detach")
    assert detached.returncode == 0, detached.stderr
    job_id = detached.stdout.strip()
    watched = mmsearch(platform, "jobs", "watch", job_id)
    assert watched.returncode == 1  # an item failed
    assert "3 indexed, 1 failed" in watched.stdout and "not_found: s3://" in watched.stdout
    shown = json.loads(mmsearch(platform, "jobs", "show", job_id).stdout)
    assert shown["errors"][0]["id"] == "missing"
    found = json.loads(
        mmsearch(
            platform,
            "search",
            "picture",
            "--collection",
            name,
            "--json",
            "--filter",
            json.dumps({"must": [{"key": "shelf", "match": {"value": "1"}}]}),
        ).stdout
    )
    assert [(h["id"], h["metadata"]) for h in found["results"]] == [
        ("gen_0001.jpg", {"shelf": "1"})
    ]
    by_word = mmsearch(platform, "search", "2", "--collection", name, "--mode", "keyword", "--json")
    assert [h["id"] for h in json.loads(by_word.stdout)["results"]] == ["gen_0002.jpg"]
    reranked = mmsearch(
        platform,
        "search",
        "picture",
        "--collection",
        name,
        "--json",
        "--rerank",
        "itm:tiny-blip/random",
        "--rerank-top-k",
        "2",
    )
    hits = json.loads(reranked.stdout)["results"]
    assert len(hits) == 3 and [("rerank_score" in h) for h in hits] == [True, True, False]
    retried = mmsearch(platform, "jobs", "retry", job_id)
    assert "1 failed item sent again" in retried.stdout and retried.returncode == 1


def test_folder_ingest_uses_file_references(platform: Platform, tiny_model: str) -> None:
    folder = platform.media_root / unique_name("cli")
    (folder / "sub").mkdir(parents=True)
    for i, photo in enumerate(generated_photos(4)):
        (folder / ("sub" if i % 2 else "") / photo.name).write_bytes(photo.data)
    (folder / "notes.txt").write_text("not an image")
    name = new_collection(platform, "cli", tiny_model)
    done = mmsearch(platform, "ingest", str(folder), "--collection", name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 indexed, 0 failed" in done.stdout
    listed = platform.request("GET", f"/v1/collections/{name}/points?vectors=false").json()
    assert sorted(p["id"] for p in listed["data"]) == sorted(
        file_uri(p) for p in folder.rglob("*.jpg")
    )


def test_errors_end_in_one_clear_line(platform: Platform) -> None:
    missing = mmsearch(platform, "search", "x", "--collection", "no-such-collection")
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith("mmsearch: 404 collection_not_found")
    down = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmsearch.api.cli",
            "collections",
            "list",
            "--api-url",
            "http://127.0.0.1:9",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert down.returncode == 2 and "cannot reach the mmsearch API" in down.stderr


def test_folder_upload_to_a_bucket_then_ingest(
    platform: Platform, s3_client: Any, s3_endpoint: str, tiny_model: str, tmp_path: Path
) -> None:
    bucket = unique_name("cli-up")
    s3_client.create_bucket(Bucket=bucket)
    (tmp_path / "trip").mkdir()
    for photo in generated_photos(3):
        (tmp_path / "trip" / photo.name).write_bytes(photo.data)
    name = new_collection(platform, "cli", tiny_model)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmsearch.api.cli",
            "ingest",
            str(tmp_path),
            "--collection",
            name,
            "--upload",
            f"s3://{bucket}/phone",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        env={
            **os.environ,
            "MMSEARCH_API_URL": platform.base,
            "HF_HUB_OFFLINE": "1",
            **s3_settings_env(s3_endpoint),
        },
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 indexed, 0 failed" in done.stdout
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [f"phone/trip/gen_000{i}.jpg" for i in range(3)]
    listed = platform.request("GET", f"/v1/collections/{name}/points?vectors=false").json()
    assert sorted(p["id"] for p in listed["data"]) == [f"s3://{bucket}/{key}" for key in keys]
