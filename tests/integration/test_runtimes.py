"""The platform on ONNX Runtime and OpenVINO: the first start exports the model (torch there),
a later one runs the export with torch unimportable; both answer searches as torch does. (int8
is checked against fp32 in unit/test_exported.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmsearch.infra.local_redis import LocalRedis
from mmsearch.infra.testing.photos import Photo, decode, generated_photos
from mmsearch.infra.testing.platform import Platform, standalone_env
from tests.fixtures.platform import unique_name
from tests.fixtures.ranking import brute_force
from tests.fixtures.s3 import upload_bucket

QUERIES = ["a dog running on the grass", "a red car at night"]
BLOCKED = ("torch", "torchvision", "open_clip", "transformers")


def _without_torch(folder: Path) -> str:
    """A PYTHONPATH entry under which importing torch and its kin fails, as in an install
    without them."""
    for name in BLOCKED:
        package = folder / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(f"raise ImportError('{name} is not installed')\n")
    return str(folder)


def _platform(folder: Path, s3_endpoint: str, model: str, **extra: str) -> tuple[Platform, Any]:
    pythonpath = extra.pop("pythonpath", None)
    redis = LocalRedis(folder / "redis", persist=False)
    env = standalone_env(redis.url, folder / "data", s3_endpoint, model, batch_size="8", **extra)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    try:
        return Platform(env, folder / "platform.log"), redis
    except BaseException:
        redis.stop()
        raise


def _check_answers(platform: Platform, s3_client: Any, model: str, photos: list[Photo]) -> None:
    bucket = upload_bucket(s3_client, photos, label="runtime")
    name = unique_name("runtime")
    platform.create_collection(name, model)
    items = [{"uri": f"s3://{bucket}/{p.name}", "id": p.name} for p in photos]
    job = platform.wait_job(platform.ingest(name, {"items": items}))
    assert (job["status"], job["succeeded"]) == ("succeeded", len(photos)), job
    for text in QUERIES:
        got = platform.search(name, {"text": text, "limit": 8})["results"]
        want = brute_force(model, photos, text, list(range(len(photos))))[:8]
        assert [hit["id"] for hit in got] == [w[0] for w in want]
        np.testing.assert_allclose([h["score"] for h in got], [w[1] for w in want], atol=1e-4)
    from mmsearch.encoders import get_encoder

    encoder = get_encoder(model)
    query = photos[3]
    got = platform.search(name, {"image": {"uri": f"s3://{bucket}/{query.name}"}, "limit": 5})
    vectors = encoder.embed_images([decode(p.data) for p in photos])
    scores = vectors @ encoder.embed_images([decode(query.data)])[0]
    order = sorted(range(len(photos)), key=lambda i: (-scores[i], photos[i].name))[:5]
    assert [hit["id"] for hit in got["results"]] == [photos[i].name for i in order]


@pytest.mark.slow
def test_first_start_exports_then_torch_free_runs(
    tmp_path: Path, s3_endpoint: str, s3_client: Any, tiny_model: str
) -> None:
    photos = generated_photos(20)
    exports = tmp_path / "exports"
    settings = {"export_dir": str(exports), "precision": "fp32"}
    platform, redis = _platform(
        tmp_path / "onnx", s3_endpoint, tiny_model, runtime="onnx", **settings
    )
    try:
        _check_answers(platform, s3_client, tiny_model, photos)
    finally:
        platform.stop()
        redis.stop()
    (folder,) = [p for p in exports.iterdir() if p.is_dir() and p.name.startswith("mmsearch-tiny")]
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("model.onnx")}
    assert len(stamps) == 2
    assert "exporting mmsearch-tiny/random" in platform.log_path.read_text()

    lean = _without_torch(tmp_path / "no-torch")
    platform, redis = _platform(
        tmp_path / "openvino",
        s3_endpoint,
        tiny_model,
        runtime="openvino",
        pythonpath=lean,
        **settings,
    )
    try:
        _check_answers(platform, s3_client, tiny_model, photos)
        assert "exporting" not in platform.log_path.read_text()
    finally:
        platform.stop()
        redis.stop()
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("model.onnx")} == stamps


def test_torch_runtime_without_torch_says_what_to_do(tmp_path: Path, tiny_model: str) -> None:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "PYTHONPATH": _without_torch(tmp_path / "no-torch"),
        "MMSEARCH_DATA_DIR": str(tmp_path / "data"),
        "MMSEARCH_DEFAULT_MODEL": tiny_model,
    }
    photo = generated_photos(1)[0]
    (tmp_path / photo.name).write_bytes(photo.data)
    (tmp_path / "captions.csv").write_text(f"image,caption\n{photo.name},a picture\n")
    done = subprocess.run(
        [sys.executable, "-m", "mmsearch.api.cli", "eval", "--captions"]
        + [str(tmp_path / "captions.csv"), "--images", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "runtime torch needs" in done.stderr and "MMSEARCH_RUNTIME=onnx" in done.stderr
