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
    processor = AutoImageProcessor.from_pretrained(directory, backend="pil")
    siglip = model.config.model_type == "siglip"
    max_length = model.config.text_config.max_position_embeddings
    with torch.inference_mode():
        tokens = tokenizer(
            TEXTS,
            padding="max_length" if siglip else True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        if siglip:  # as SigLIP is trained and run: no attention mask
            del tokens["attention_mask"]
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


def _varied_images() -> list[Image.Image]:
    from mmsearch.infra.testing.photos import decode, generated_photos

    photos = [decode(p.data) for p in generated_photos(4)]
    see_through = photos[2].resize((45, 31)).convert("RGBA")
    see_through.putalpha(Image.linear_gradient("L").resize((45, 31)))
    palette = photos[3].resize((37, 52)).convert("P")
    palette.info["transparency"] = 0
    return [
        *photos,
        photos[0].resize((300, 41)),  # odd crop offsets
        photos[1].resize((17, 230)).convert("L"),
        photos[1].resize((33, 33)),
        see_through,
        palette,
        photos[0].resize((41, 40)).convert("LA"),
    ]


def _pil_processors() -> list[Any]:
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    return [
        CLIPImageProcessorPil(),
        CLIPImageProcessorPil(size={"shortest_edge": 40}, crop_size={"height": 32, "width": 32}),
        CLIPImageProcessorPil(
            size={"shortest_edge": 36}, crop_size={"height": 24, "width": 30}, resample=2
        ),
        SiglipImageProcessorPil(),
        SiglipImageProcessorPil(size={"height": 24, "width": 40}, image_mean=[0.1, 0.2, 0.3]),
    ]


@pytest.mark.parametrize("index", range(5))
def test_image_prep_gives_the_processors_pixels(index: int) -> None:
    """An image processor's steps reproduced without transformers give its pixels exactly."""
    from mmsearch.encoders.hf_prep import hf_image_prep

    processor = _pil_processors()[index]
    prep = hf_image_prep(processor)
    for image in _varied_images():
        want = processor(images=image, return_tensors="np")["pixel_values"][0]
        np.testing.assert_array_equal(prep(image), want)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"resample": 0}, "resample"),
        ({"do_pad": True}, "do_pad"),
        ({"size": {"shortest_edge": 20}, "crop_size": {"height": 32, "width": 32}}, "larger"),
        ({"rescale_factor": 1 / 127.5}, "rescale"),
        ({"do_resize": False}, "do_resize"),
    ],
)
def test_processor_settings_it_cannot_reproduce_are_named(
    settings: dict[str, Any], named: str
) -> None:
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    from mmsearch.encoders.hf_prep import hf_image_prep
    from mmsearch.encoders.image_prep import UnsupportedPreprocessing

    with pytest.raises(UnsupportedPreprocessing, match=named):
        hf_image_prep(CLIPImageProcessorPil(**settings))


@pytest.mark.parametrize("name", TINY)
def test_pixels_give_image_vectors(name: str) -> None:
    """The feeder's path (resized uint8 pixels, normalised by the model) gives the vectors of
    decoded images."""
    encoder = get_encoder(name)
    prep = encoder.image_prep
    assert prep is not None
    images = _varied_images()
    pixels = np.stack([prep.geometry(image) for image in images])
    np.testing.assert_allclose(
        encoder.embed_pixels(pixels), encoder.embed_images(images), atol=1e-6
    )
