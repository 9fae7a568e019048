"""The encoder registry: names, backends, one instance per process, normalised float32 output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmsearch.encoders import (
    TINY_TEST_MODEL,
    ImageTowerNotLoaded,
    UnknownModel,
    get_encoder,
    list_backends,
    parse_model_name,
    validate_model_name,
)
from mmsearch.encoders.registry import list_architectures


@pytest.mark.parametrize(
    ("name", "backend", "arch", "weights"),
    [
        ("ViT-B-32/laion2b_s34b_b79k", "open_clip", "ViT-B-32", "laion2b_s34b_b79k"),
        (
            "ViT-B-32/file:/models/b32.safetensors",
            "open_clip",
            "ViT-B-32",
            "file:/models/b32.safetensors",
        ),
        ("ViT-B-32/random", "open_clip", "ViT-B-32", "random"),
        ("mmsearch-tiny/random:7", "open_clip", "mmsearch-tiny", "random:7"),
        ("hf:openai/clip-vit-base-patch32", "hf", "openai", "clip-vit-base-patch32"),
    ],
)
def test_parse_model_name(name: str, backend: str, arch: str, weights: str) -> None:
    ref = parse_model_name(name)
    assert (ref.backend, ref.arch, ref.weights) == (backend, arch, weights)
    assert ref.name == name


@pytest.mark.parametrize("name", ["ViT-B-32", "/random", "ViT-B-32/", "x/random:abc", ""])
def test_malformed_names_are_rejected(name: str) -> None:
    with pytest.raises(UnknownModel):
        parse_model_name(name)


def test_unknown_backend_and_architecture() -> None:
    with pytest.raises(UnknownModel, match="backend"):
        validate_model_name("nosuch:arch/x")
    with pytest.raises(UnknownModel, match="architecture"):
        get_encoder("NoSuchArch-99/random")
    with pytest.raises(UnknownModel, match="weights file"):
        get_encoder("mmsearch-tiny/file:/nonexistent/weights.bin")


def test_registry_lists_backends_and_bundled_architecture() -> None:
    assert "open_clip" in list_backends()
    assert "mmsearch-tiny" in list_architectures() and "ViT-B-32" in list_architectures()


def test_tiny_model_is_loaded_once_and_outputs_unit_vectors() -> None:
    encoder = get_encoder(TINY_TEST_MODEL)
    assert get_encoder(TINY_TEST_MODEL) is encoder
    assert encoder.is_random and encoder.dim == 64 and encoder.device == "cpu"
    texts = encoder.embed_texts(["a dog", "a cat", "x " * 500])
    images = encoder.embed_images([Image.new("RGB", (90, 60), c) for c in ("red", "blue")])
    for vectors, rows in ((texts, 3), (images, 2)):
        assert vectors.shape == (rows, 64) and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(texts[0], texts[1]) and not np.allclose(images[0], images[1])
    assert encoder.embed_texts([]).shape == (0, 64)


def test_random_weights_are_seeded() -> None:
    default = get_encoder(TINY_TEST_MODEL).embed_texts(["same text"])
    seeded = get_encoder("mmsearch-tiny/random:1").embed_texts(["same text"])
    assert not np.allclose(default, seeded)
    assert np.allclose(get_encoder("mmsearch-tiny/random:0").embed_texts(["same text"]), default)


def _param_count(encoder: object) -> int:
    return sum(p.numel() for p in encoder._model.parameters())  # type: ignore[attr-defined]


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_text_only_loads_from_a_weights_file_without_the_image_tower(
    tmp_path: Path, suffix: str
) -> None:
    import torch
    from safetensors.torch import save_file

    full = get_encoder("mmsearch-tiny/random:11")
    weights = tmp_path / f"tiny{suffix}"
    state = full._model.state_dict()  # type: ignore[attr-defined]
    if suffix == ".pt":
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, weights)
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    name = f"mmsearch-tiny/file:{weights}"
    text_only = get_encoder(name, text_only=True)
    assert not text_only.has_image_tower and text_only.dim == full.dim
    visual = sum(p.numel() for p in full._model.visual.parameters())  # type: ignore[attr-defined]
    assert _param_count(text_only) == _param_count(full) - visual
    texts = ["a dog on a beach", "two people", "x" * 500]
    np.testing.assert_allclose(text_only.embed_texts(texts), full.embed_texts(texts), atol=1e-6)
    assert text_only.logit_scale == pytest.approx(full.logit_scale)
    image = Image.new("RGB", (40, 30), "red")
    with pytest.raises(ImageTowerNotLoaded):
        text_only.embed_images([image])
    loaded = get_encoder(name)  # the full model is a different load...
    assert loaded is not text_only and loaded.has_image_tower
    np.testing.assert_allclose(loaded.embed_images([image]), full.embed_images([image]), atol=1e-5)
    assert get_encoder(name, text_only=True) is loaded  # ...and then serves text-only asks too


def test_text_only_checks_the_weights_fit(tmp_path: Path) -> None:
    import torch

    weights = tmp_path / "other.pt"
    other = get_encoder("hf:tiny-clip/random")  # another architecture's weights
    torch.save(other._model.state_dict(), weights)  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="text tower"):
        get_encoder(f"mmsearch-tiny/file:{weights}", text_only=True)


@pytest.mark.parametrize("name", ["mmsearch-tiny/random:12", "hf:tiny-clip/random:12"])
def test_random_text_only_matches_the_full_model(name: str) -> None:
    text_only = get_encoder(name, text_only=True)
    assert not text_only.has_image_tower
    full = get_encoder(name)
    assert full is not text_only and full.has_image_tower
    texts = ["a red car", "a cat"]
    np.testing.assert_allclose(text_only.embed_texts(texts), full.embed_texts(texts), atol=1e-6)
    with pytest.raises(ImageTowerNotLoaded):
        text_only.preprocess(Image.new("RGB", (8, 8)))
