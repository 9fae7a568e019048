"""The first start: a default model that cannot be loaded (no hub, no internet, a damaged weights
file) stops the server commands and `eval` at once with exit code 2 and one message naming the
ways out; a model that fails later is reported with its cause."""

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


def run_mmsearch(
    env: dict[str, str], *args: str, offline: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the `mmsearch` command to its end (bounded); its status and output. `offline`: with
    HF_HUB_OFFLINE set, else with the hub's offline settings unset (the hub is then tried)."""
    full_env = {**os.environ, **env, "HF_HUB_OFFLINE": "1"}
    if not offline:
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
            full_env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "mmsearch.api.cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )


def assert_ways_out(
    result: subprocess.CompletedProcess[str],
    setting: str,
    cause: str = "offline mode is enabled",
    model: str = OFFLINE_MODEL,
) -> None:
    """Exit 2 with one message: the model, the cause, and the three ways out; no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert model in result.stderr
    assert "internet" in result.stderr
    assert f"{setting}ViT-B-32/file:" in result.stderr
    assert f"{setting}ViT-B-32/random" in result.stderr
    assert result.stderr.count("ways out") == 1
    assert result.stderr.count(cause) == 1, result.stderr  # the cause, said once


def eval_args(folder: Path, model: str) -> list[str]:
    """`eval` arguments for a one-image caption set in `folder`, with `model`."""
    (folder / "a.jpg").write_bytes(generated_jpeg(1))
    (folder / "captions.csv").write_text("image,caption\na.jpg,coloured shapes\n")
    captions, images = str(folder / "captions.csv"), str(folder)
    return ["eval", "--captions", captions, "--images", images, "--model", model]


def unreachable_hub(kind: str, tmp_path: Path) -> dict[str, str]:
    """Settings for a hub that cannot be reached (`refused` or `unresolvable`), and an empty
    model cache."""
    endpoint = {
        "refused": f"http://127.0.0.1:{free_port()}",
        "unresolvable": "https://hub.mmsearch.invalid",
    }[kind]
    cache = str(tmp_path / "model-cache")
    return {"HF_ENDPOINT": endpoint, "HF_HOME": cache, "MMSEARCH_MODEL_CACHE_DIR": cache}


def start_standalone(
    tmp_path: Path, stores: tuple[str, str], model: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run `mmsearch standalone` on `stores` (Redis, S3) with `model` and `env` to its end;
    HF_HUB_OFFLINE only where `env` sets it."""
    redis_url, s3_endpoint = stores
    full_env = {**standalone_env(redis_url, tmp_path / "data", s3_endpoint, model), **env}
    offline = full_env.get("HF_HUB_OFFLINE") == "1"
    return run_mmsearch(full_env, "standalone", "--port", str(free_port()), offline=offline)


def assert_hub_unreachable(
    result: subprocess.CompletedProcess[str], setting: str, model: str = OFFLINE_MODEL
) -> None:
    """Exit 2 at once: the hub could not be reached, with the ways out; no retries narrated."""
    assert_ways_out(result, setting, cause="could not reach", model=model)
    assert "offline?" in result.stderr
    assert "Retrying" not in result.stdout + result.stderr


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
    result = run_mmsearch({}, *eval_args(tmp_path, OFFLINE_MODEL))
    assert_ways_out(result, "--model ")


@pytest.mark.slow
@pytest.mark.parametrize("hub", ["refused", "unresolvable"])
def test_standalone_without_a_reachable_hub_exits_2_at_once(
    tmp_path: Path, own_redis: str, s3_endpoint: str, hub: str
) -> None:
    stores = (own_redis, s3_endpoint)
    result = start_standalone(tmp_path, stores, OFFLINE_MODEL, unreachable_hub(hub, tmp_path))
    assert_hub_unreachable(result, "MMSEARCH_DEFAULT_MODEL=")


@pytest.mark.slow
@pytest.mark.parametrize("model", [OFFLINE_MODEL, "hf:openai/clip-vit-base-patch32"])
def test_eval_without_a_reachable_hub_exits_2_at_once(tmp_path: Path, model: str) -> None:
    env = unreachable_hub("refused", tmp_path)
    result = run_mmsearch(env, *eval_args(tmp_path, model), offline=False)
    assert_hub_unreachable(result, "--model ", model)


def damaged_weights(folder: Path, suffix: str) -> tuple[str, str]:
    """A weights file of junk in `folder`; its model name and the cause the start must give."""
    junk = folder / f"junk{suffix}"
    junk.write_bytes(b"xxxx not weights at all")
    return f"ViT-B-32/file:{junk}", f"could not read weights file {junk.name}: "


@pytest.mark.slow
def test_standalone_on_a_damaged_weights_file_exits_2_with_the_ways_out(
    tmp_path: Path, own_redis: str, s3_endpoint: str
) -> None:
    model, cause = damaged_weights(tmp_path, ".safetensors")
    folders = {"MMSEARCH_WEIGHTS_DIRS": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    result = start_standalone(tmp_path, (own_redis, s3_endpoint), model, folders)
    assert_ways_out(result, "MMSEARCH_DEFAULT_MODEL=", cause=cause, model=model)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_eval_on_a_damaged_weights_file_exits_2_with_the_ways_out(
    tmp_path: Path, suffix: str
) -> None:
    model, cause = damaged_weights(tmp_path, suffix)
    result = run_mmsearch({}, *eval_args(tmp_path, model))
    assert_ways_out(result, "--model ", cause=cause, model=model)


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
