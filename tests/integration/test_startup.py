"""The first start: a default model that cannot be loaded stops the server commands and `eval` at
once with exit code 2 and one message naming the ways out; a model that fails later is reported
with its cause."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmsearch.infra.local_redis import LocalRedis, free_port
from mmsearch.infra.testing.photos import generated_jpeg
from mmsearch.infra.testing.platform import standalone_env
from mmsearch.infra.vectors import IMAGE_VECTOR, CollectionSpec, EdgeVectorStore, VectorPoint

# Pretrained weights that are not in the model cache: with HF_HUB_OFFLINE they cannot be had.
OFFLINE_MODEL = "ViT-B-32/laion2b_s34b_b79k"
START_TIMEOUT_S = 60


def run_mmsearch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `mmsearch` command to its end (bounded); its status and output."""
    return subprocess.run(
        [sys.executable, "-m", "mmsearch.api.cli", *args],
        env={**os.environ, **env, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )


def assert_ways_out(result: subprocess.CompletedProcess[str], setting: str) -> None:
    """Exit 2 with one message: the model, the cause, and the three ways out; no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert OFFLINE_MODEL in result.stderr and "offline" in result.stderr
    assert "internet" in result.stderr
    assert f"{setting}ViT-B-32/file:" in result.stderr
    assert f"{setting}ViT-B-32/random" in result.stderr
    assert result.stderr.count("ways out") == 1
    assert result.stderr.count("offline mode is enabled") == 1  # the cause, said once


@pytest.fixture()
def own_redis(tmp_path: Path) -> Iterator[str]:
    redis = LocalRedis(tmp_path / "redis", persist=False)
    yield redis.url
    redis.stop()


@pytest.mark.slow  # a process of its own
def test_standalone_without_its_model_exits_2_with_the_ways_out(
    tmp_path: Path, own_redis: str, s3_endpoint: str
) -> None:
    env = standalone_env(own_redis, tmp_path / "data", s3_endpoint, OFFLINE_MODEL)
    result = run_mmsearch(env, "standalone", "--port", str(free_port()))
    assert_ways_out(result, "MMSEARCH_DEFAULT_MODEL=")
    assert "API on" not in result.stderr  # nothing was served


@pytest.mark.slow
@pytest.mark.parametrize("command", ["api", "worker"])
def test_api_and_worker_without_their_model_exit_2(
    tmp_path: Path, own_redis: str, s3_endpoint: str, command: str
) -> None:
    env = standalone_env(own_redis, tmp_path / "data", s3_endpoint, OFFLINE_MODEL)
    env["MMSEARCH_QDRANT_URL"] = "http://127.0.0.1:9"  # never reached: the model comes first
    result = run_mmsearch(env, command)
    assert_ways_out(result, "MMSEARCH_DEFAULT_MODEL=")


@pytest.mark.slow
def test_eval_without_its_model_exits_2_with_the_ways_out(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(generated_jpeg(1))
    (tmp_path / "captions.csv").write_text("image,caption\na.jpg,coloured shapes\n")
    result = run_mmsearch(
        {},
        "eval",
        "--captions",
        str(tmp_path / "captions.csv"),
        "--images",
        str(tmp_path),
        "--model",
        OFFLINE_MODEL,
    )
    assert_ways_out(result, "--model ")


@pytest.mark.slow
def test_standalone_on_an_unreadable_collection_exits_2_without_a_traceback(
    tmp_path: Path, own_redis: str, s3_endpoint: str, tiny_model: str
) -> None:
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(124):  # metadata written by a release that did not bound its depth
        deep = {"n": deep}
    store = EdgeVectorStore(tmp_path / "data" / "qdrant")
    spec = CollectionSpec("broken--v1", 4, tiny_model, {}, public_name="broken", version=1)
    store.create_collection(spec)
    vector = np.full(4, 0.5, dtype=np.float32)
    store.upsert(spec.name, [VectorPoint(str(uuid.uuid4()), {IMAGE_VECTOR: vector}, deep)])
    store.close()
    env = standalone_env(own_redis, tmp_path / "data", s3_endpoint, tiny_model)
    result = run_mmsearch(env, "standalone", "--port", str(free_port()))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "cannot open collection 'broken--v1'" in result.stderr
