"""Queries in any language: a multilingual text tower (open_clip's HF-tower family, a Hugging
Face model folder with its own tokenizer) loads offline and answers a query with the vector the
model gives when called directly; these towers are not causal, so they run in full."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from mmsearch.encoders import get_encoder
from mmsearch.encoders.hf_backend import HFEncoder
from mmsearch.encoders.hf_text_towers import PACKAGED
from mmsearch.infra.testing.photos import decode, generated_photos

XLMR = "mmsearch-tiny-xlmr/random"
QUERIES = [
    "a dog running on the beach",
    "ein Hund, der am Strand läuft",
    "un chien qui court sur la plage",
    "собака бежит по пляжу",
    "在海滩上奔跑的狗",
    "浜辺を走る犬",
    "كلب يجري على الشاطئ",
]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def unit(x: torch.Tensor) -> np.ndarray:
    return (x / x.norm(dim=-1, keepdim=True)).float().numpy()


def test_open_clip_with_an_xlm_roberta_tower_equals_the_model_called_directly() -> None:
    encoder = get_encoder(XLMR, device="cpu")
    assert encoder.trim is None  # mean pooling over every token: no trimmed forward
    tokens = encoder.tokenizer(QUERIES)
    assert (tokens[:, 0] == 0).all() and int(tokens.max()) < 300  # the packaged tokenizer's ids
    with torch.no_grad():
        direct = unit(encoder.model.encode_text(tokens))
    got = encoder.embed_texts(QUERIES)
    np.testing.assert_allclose(got, direct, atol=1e-6)
    assert len({tuple(np.round(v, 5)) for v in got}) == len(QUERIES)  # each its own vector
    alone = [encoder.embed_texts([q])[0] for q in QUERIES]  # padding changes nothing
    np.testing.assert_allclose(alone, got, atol=1e-5)
    text_only = get_encoder(XLMR, device="cpu", text_only=True)
    np.testing.assert_allclose(text_only.embed_texts(QUERIES), got, atol=1e-6)
    images = encoder.embed_images([decode(p.data) for p in generated_photos(2)])
    assert images.shape == (2, encoder.dim)


def test_its_weights_file_loads_whole_and_as_a_text_tower_alone(tmp_path: Path) -> None:
    random = get_encoder(XLMR, device="cpu")
    path = tmp_path / "xlmr.pt"
    torch.save(random.model.state_dict(), path)
    name = f"mmsearch-tiny-xlmr/file:{path}"
    alone = get_encoder(name, device="cpu", weights_dirs=[tmp_path], text_only=True)
    whole = get_encoder(name, device="cpu", weights_dirs=[tmp_path])
    want = random.embed_texts(QUERIES)
    np.testing.assert_allclose(whole.embed_texts(QUERIES), want, atol=1e-6)
    np.testing.assert_allclose(alone.embed_texts(QUERIES), want, atol=1e-6)
    assert not alone.has_image_tower and not whole.is_random


def test_an_hf_model_folder_with_a_multilingual_tokenizer(tmp_path: Path) -> None:
    folder = tmp_path / "siglip-multilingual"
    built = get_encoder("hf:tiny-siglip/random", device="cpu")
    assert isinstance(built, HFEncoder)
    built.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"):
        (folder / name).unlink(missing_ok=True)
    AutoTokenizer.from_pretrained(PACKAGED / "tiny-xlm-roberta").save_pretrained(folder)
    encoder = get_encoder(f"hf:multilingual/file:{folder}", device="cpu", weights_dirs=[tmp_path])
    assert isinstance(encoder, HFEncoder)
    assert encoder.text_pooling() is None  # SigLIP's text tower is not causal: run in full
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer(
        QUERIES,
        padding="max_length",
        truncation=True,
        max_length=encoder.context_length,
        return_tensors="pt",
    )["input_ids"]
    with torch.no_grad():
        direct = encoder.model.get_text_features(input_ids=ids)
    direct = getattr(direct, "pooler_output", direct)
    np.testing.assert_allclose(encoder.embed_texts(QUERIES), unit(direct), atol=1e-5)
