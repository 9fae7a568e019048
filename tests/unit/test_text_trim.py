"""Trimmed text forward: the same vectors as open_clip's full-context forward."""

from __future__ import annotations

from typing import Any

import numpy as np
import open_clip
import pytest
import torch

import mmsearch.encoders.open_clip_backend  # noqa: F401 - registers the bundled model configs
from mmsearch.encoders import TINY_TEST_MODEL, get_encoder
from mmsearch.encoders.text_trim import encode_text, trim_mode
from mmsearch.encoders.torch_util import to_unit_numpy

TEXTS = ["a dog", "a photo of a dog running on the beach with a red ball in its mouth", ""]
ARCH = TINY_TEST_MODEL.split("/")[0]


def _full_and_trimmed(model: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    tokens = open_clip.get_tokenizer(ARCH)(texts)
    with torch.inference_mode():
        full = to_unit_numpy(model.encode_text(tokens))
        trimmed = to_unit_numpy(encode_text(model, trim_mode(model), tokens))
    return full, trimmed


def _model(**kwargs: Any) -> Any:
    torch.manual_seed(0)
    return open_clip.create_model(ARCH, pretrained=None, **kwargs).eval()


@pytest.mark.parametrize("texts", [TEXTS, ["short"], ["word " * 200]])
def test_trimmed_clip_tower_equals_the_full_forward(texts: list[str]) -> None:
    model = _model()
    assert trim_mode(model) == "clip"
    full, trimmed = _full_and_trimmed(model, texts)
    np.testing.assert_allclose(trimmed, full, atol=1e-5)


def test_trimmed_custom_text_tower_equals_the_full_forward() -> None:
    model = _model(force_custom_text=True)
    assert trim_mode(model) == "custom"
    full, trimmed = _full_and_trimmed(model, TEXTS)
    np.testing.assert_allclose(trimmed, full, atol=1e-5)


def test_a_tower_without_causal_mask_runs_in_full() -> None:
    model = _model(force_custom_text=True, text_cfg={"no_causal_mask": True, "pool_type": "last"})
    assert trim_mode(model) is None
    full, trimmed = _full_and_trimmed(model, TEXTS)
    np.testing.assert_array_equal(trimmed, full)


def test_the_encoder_trims_and_agrees_with_open_clip() -> None:
    encoder: Any = get_encoder(TINY_TEST_MODEL)
    full, _ = _full_and_trimmed(encoder._model, TEXTS)
    np.testing.assert_allclose(encoder.embed_texts(TEXTS), full, atol=1e-5)
