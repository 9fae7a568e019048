"""The encoder registry: names, backends, one instance per process, normalised float32 output."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from encoders import (
    TINY_TEST_MODEL,
    UnknownModel,
    get_encoder,
    list_backends,
    parse_model_name,
    validate_model_name,
)
from encoders.registry import list_architectures


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
