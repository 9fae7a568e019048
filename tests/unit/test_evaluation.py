"""Recall@K maths on cases whose answers are known exactly, and the `mmsearch eval` command
against the same encoder called directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmsearch.encoders import TINY_TEST_MODEL, get_encoder
from mmsearch.encoders.evaluation import agreement, load_caption_set, recall_at_k
from mmsearch.infra.testing.photos import FLICKR, generated_photos
from tests.fixtures.images import require_photo_set

ROOT = Path(__file__).resolve().parents[2]


def test_perfect_retrieval_scores_one_everywhere() -> None:
    result = recall_at_k(np.eye(4)[[0, 0, 1, 2, 3]], [0, 0, 1, 2, 3])
    assert result == {
        "text_to_image": {1: 1.0, 5: 1.0, 10: 1.0},
        "image_to_text": {1: 1.0, 5: 1.0, 10: 1.0},
    }


def test_known_ranks() -> None:
    # 4 captions × 3 images; captions 0 and 1 describe image 0, caption 2 image 1, caption 3 image 2
    similarity = np.array(
        [
            [0.9, 0.1, 0.2],  # c0: its image first
            [0.1, 0.5, 0.3],  # c1: its image third
            [0.8, 0.7, 0.1],  # c2: its image second
            [0.0, 0.1, 0.6],  # c3: its image first
        ]
    )
    result = recall_at_k(similarity, [0, 0, 1, 2], ks=(1, 2, 3))
    assert result["text_to_image"] == {1: 0.5, 2: 0.75, 3: 1.0}
    # each image's best own caption tops its column: image 0 c0 0.9 (c2 0.8 next), image 1
    # c2 0.7 (c1 0.5 next), image 2 c3 0.6 (c1 0.3 next)
    assert result["image_to_text"] == {1: 1.0, 2: 1.0, 3: 1.0}
    flipped = similarity.copy()
    flipped[2, 0] = 0.95  # c2 now outranks image 0's own captions
    assert recall_at_k(flipped, [0, 0, 1, 2], ks=(1, 2))["image_to_text"] == {1: 2 / 3, 2: 1.0}


def test_ties_count_against_the_query() -> None:
    result = recall_at_k(np.ones((2, 2)), [0, 1], ks=(1, 2))
    assert result["text_to_image"] == {1: 0.0, 2: 1.0}
    assert result["image_to_text"] == {1: 0.0, 2: 1.0}


def write_set(folder: Path, count: int) -> Path:
    lines = ["image,caption"]
    for photo in generated_photos(count):
        (folder / photo.name).write_bytes(photo.data)
        lines += [f"{photo.name},{photo.caption}", f"{photo.name},shapes in {photo.name}"]
    (folder / "captions.csv").write_text("\n".join(lines) + "\n")
    return folder / "captions.csv"


def test_caption_sets_load_with_a_limit_and_refuse_missing_images(tmp_path: Path) -> None:
    captions = write_set(tmp_path, 5)
    data = load_caption_set(captions, tmp_path, limit=3)
    assert (len(data.images), len(data.captions), data.image_of) == (3, 6, [0, 0, 1, 1, 2, 2])
    (tmp_path / "gen_0004.jpg").unlink()
    with pytest.raises(ValueError, match="gen_0004.jpg"):
        load_caption_set(captions, tmp_path)


@pytest.mark.slow
def test_eval_command_equals_the_encoder_called_directly(tmp_path: Path) -> None:
    captions = write_set(tmp_path, 12)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmsearch.api.cli",
            "eval",
            "--captions",
            str(captions),
            "--images",
            str(tmp_path),
            "--model",
            TINY_TEST_MODEL,
            "--json",
            "--batch",
            "8",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    phases = ["loading model", "model loaded in", "decoded=8", "12/12", "24/24", "scoring"]
    at = [done.stderr.find(phase) for phase in phases]  # each phase said, in order, on stderr
    assert -1 not in at and at == sorted(at), done.stderr
    report = json.loads(done.stdout)
    data = load_caption_set(captions, tmp_path)
    encoder = get_encoder(TINY_TEST_MODEL)
    images = encoder.embed_images([Image.open(p).convert("RGB") for p in data.images])
    want = recall_at_k(encoder.embed_texts(data.captions) @ images.T, data.image_of)
    assert report["images"] == 12 and report["captions"] == 24
    for way, values in want.items():
        assert report["recall"][way] == {f"R@{k}": round(v, 4) for k, v in values.items()}


@pytest.mark.slow
def test_eval_on_real_photos(tmp_path: Path) -> None:
    data = load_caption_set(require_photo_set(FLICKR), FLICKR / "images", limit=50)
    assert (len(data.images), len(data.captions)) == (50, 250)


def test_agreement_of_identical_and_of_shuffled_vectors() -> None:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(30, 8)).astype(np.float32)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    texts = images[::-1].copy()
    same = agreement((images, texts), (images, texts), k=5)
    assert same["image_cosine_min"] == pytest.approx(1.0) and same["text_cosine_mean"] == 1.0
    assert same["text_to_image_top_overlap"] == same["image_to_image_top_overlap"] == 1.0
    noisy = images + rng.normal(scale=0.5, size=images.shape).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    apart = agreement((images, texts), (noisy, texts), k=5)
    assert apart["image_cosine_min"] < apart["image_cosine_mean"] < 1.0
    assert 0.0 <= apart["image_to_image_top_overlap"] < 1.0


@pytest.mark.slow
def test_eval_compares_runtimes_side_by_side(tmp_path: Path) -> None:
    captions = write_set(tmp_path, 10)
    done = subprocess.run(
        [sys.executable, "-m", "mmsearch.api.cli", "eval", "--captions", str(captions)]
        + ["--images", str(tmp_path), "--model", TINY_TEST_MODEL, "--json"]
        + ["--runtime", "torch,onnx,openvino/fp32"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "MMSEARCH_EXPORT_DIR": str(tmp_path / "x")},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    rows = report["runtimes"]
    assert [row["runtime"] for row in rows] == ["torch/auto", "onnx/auto", "openvino/fp32"]
    assert report["recall"] == rows[0]["recall"]
    for row in rows[1:]:
        assert row["recall"] == rows[0]["recall"]
        agreed = row["agreement"]
        assert agreed["image_cosine_min"] >= 0.9999 and agreed["text_cosine_min"] >= 0.9999
        assert agreed["text_to_image_top_overlap"] == 1.0
