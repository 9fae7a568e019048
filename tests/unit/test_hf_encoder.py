"""The Hugging Face transformers backend: tiny random CLIP and SigLIP, save/load, correctness."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mmsearch.encoders import (
    ModelUnavailable,
    UnknownModel,
    get_encoder,
    list_backends,
    parse_model_name,
)

pytest.importorskip("transformers")

TINY = ["hf:tiny-clip/random", "hf:tiny-siglip/random"]
TEXTS = ["a dog", "a cat on a mat", "x " * 500]


def _images() -> list[Image.Image]:
    return [
        Image.new("RGB", (90, 60), "red"),
        Image.new("RGB", (40, 70), "blue"),
        Image.new("L", (50, 50), 128),
    ]


def test_hf_backend_is_registered_and_names_parse() -> None:
    assert "hf" in list_backends()
    ref = parse_model_name("hf:tiny-siglip/random:3")
    assert (ref.backend, ref.arch, ref.is_random, ref.seed) == ("hf", "tiny-siglip", True, 3)
    local = parse_model_name("hf:local/file:/models/my-clip")
    assert local.weights_file == "/models/my-clip" and not local.is_random
    assert local.name == "hf:local/file:/models/my-clip"


@pytest.mark.parametrize("name", TINY)
def test_tiny_models_output_unit_float32_vectors(name: str) -> None:
    encoder = get_encoder(name)
    assert get_encoder(name) is encoder
    assert encoder.is_random and encoder.device == "cpu" and encoder.logit_scale > 0
    texts = encoder.embed_texts(TEXTS)
    images = encoder.embed_images(_images())
    for vectors, rows in ((texts, 3), (images, 3)):
        assert vectors.shape == (rows, encoder.dim) and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(texts[0], texts[1]) and not np.allclose(images[0], images[1])
    assert encoder.embed_texts([]).shape == (0, encoder.dim)
    assert encoder.embed_preprocessed([]).shape == (0, encoder.dim)


@pytest.mark.parametrize("name", TINY)
def test_long_texts_are_truncated(name: str) -> None:
    encoder = get_encoder(name)
    long, longer = encoder.embed_texts(["x " * 300, "x " * 500 + "and a different ending"])
    np.testing.assert_allclose(long, longer, atol=1e-6)
    assert not np.allclose(long, encoder.embed_texts(["x"])[0])


@pytest.mark.parametrize("name", TINY)
def test_random_weights_are_seeded(name: str) -> None:
    default = get_encoder(name).embed_texts(["same text"])
    np.testing.assert_array_equal(get_encoder(f"{name}:0").embed_texts(["same text"]), default)
    assert not np.allclose(get_encoder(f"{name}:1").embed_texts(["same text"]), default)


def save_and_load(name: str, folder: Path) -> tuple[Any, Path, Any]:
    """The random encoder, the folder it is saved to, and the encoder loaded back from there."""
    from mmsearch.encoders.hf_backend import HFEncoder

    encoder = get_encoder(name)
    assert isinstance(encoder, HFEncoder)
    directory = encoder.save_pretrained(folder / "model")
    return encoder, directory, get_encoder(f"hf:local/file:{directory}")


@pytest.mark.parametrize("name", TINY)
def test_saved_model_loads_back_with_identical_embeddings(name: str, tmp_path: Path) -> None:
    encoder, _, loaded = save_and_load(name, tmp_path)
    assert not loaded.is_random and loaded.dim == encoder.dim
    assert loaded.logit_scale == pytest.approx(encoder.logit_scale)
    np.testing.assert_allclose(loaded.embed_texts(TEXTS), encoder.embed_texts(TEXTS), atol=1e-6)
    np.testing.assert_allclose(
        loaded.embed_images(_images()), encoder.embed_images(_images()), atol=1e-6
    )


@pytest.mark.parametrize("name", TINY)
def test_vectors_match_transformers_called_directly(name: str, tmp_path: Path) -> None:
    import torch
    import torch.nn.functional as F
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    _, directory, encoder = save_and_load(name, tmp_path)
    model = AutoModel.from_pretrained(directory).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    processor = AutoImageProcessor.from_pretrained(directory)
    padding = "max_length" if model.config.model_type == "siglip" else True
    max_length = model.config.text_config.max_position_embeddings
    with torch.inference_mode():
        tokens = tokenizer(
            TEXTS, padding=padding, truncation=True, max_length=max_length, return_tensors="pt"
        )
        text = model.get_text_features(**tokens).pooler_output
        pixels = processor(images=[i.convert("RGB") for i in _images()], return_tensors="pt")
        image = model.get_image_features(pixel_values=pixels["pixel_values"]).pooler_output
    expected_text = F.normalize(text, dim=-1).numpy()
    expected_image = F.normalize(image, dim=-1).numpy()
    np.testing.assert_allclose(encoder.embed_texts(TEXTS), expected_text, atol=1e-5)
    np.testing.assert_allclose(encoder.embed_images(_images()), expected_image, atol=1e-5)
    assert encoder.logit_scale == pytest.approx(float(model.logit_scale.detach().exp()))


def test_missing_or_unknown_models_raise_unknown_model(tmp_path: Path) -> None:
    with pytest.raises(UnknownModel, match="not found"):
        get_encoder(f"hf:local/file:{tmp_path / 'missing'}")
    with pytest.raises(UnknownModel, match="not found"):
        get_encoder(f"hf:local/file:{tmp_path}")  # exists, but no config.json
    with pytest.raises(UnknownModel, match="test architecture"):
        get_encoder("hf:no-such-arch/random")
    # Offline in tests: a repository not in the cache may exist, so it is unavailable, not unknown.
    with pytest.raises(ModelUnavailable, match="could not download .*offline"):
        get_encoder("hf:no-such-org/no-such-model", cache_dir=tmp_path / "cache")
