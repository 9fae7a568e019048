"""Zero-shot labels on a real tiny encoder: probabilities, ranking and the prompt cache."""

from __future__ import annotations

import numpy as np
from PIL import Image

from mmsearch.encoders import TINY_TEST_MODEL, get_encoder
from mmsearch.encoders.zero_shot import (
    DEFAULT_TEMPLATE,
    LabelChoice,
    label_matrix,
    label_probabilities,
    top_labels,
)

LABELS = ("dog", "cat", "red car", "mountain")


def images() -> np.ndarray:
    encoder = get_encoder(TINY_TEST_MODEL)
    colours = ("red", "green", "blue")
    return encoder.embed_images([Image.new("RGB", (64, 48), c) for c in colours])


def test_probabilities_are_the_softmax_of_scaled_cosines() -> None:
    encoder = get_encoder(TINY_TEST_MODEL)
    prompts = label_matrix(encoder, LABELS, DEFAULT_TEMPLATE)
    expected_prompts = encoder.embed_texts([DEFAULT_TEMPLATE.format(x) for x in LABELS])
    np.testing.assert_allclose(prompts, expected_prompts, atol=1e-6)
    vectors = images()
    probs = label_probabilities(encoder, vectors, prompts)
    logits = encoder.logit_scale * (vectors.astype(np.float64) @ prompts.T.astype(np.float64))
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_top_labels_follow_the_probabilities() -> None:
    encoder = get_encoder(TINY_TEST_MODEL)
    vectors = images()
    choice = LabelChoice(labels=LABELS, top_k=2, prompt_template="a picture of a {}")
    probs = label_probabilities(
        encoder, vectors, label_matrix(encoder, LABELS, "a picture of a {}")
    )
    picked = top_labels(encoder, vectors, choice)
    assert [len(row) for row in picked] == [2, 2, 2]
    for row, labels in zip(probs, picked, strict=True):
        ranked = [LABELS[i] for i in np.argsort(-row, kind="stable")]
        assert labels == ranked[:2]


def test_an_image_that_is_a_prompt_gets_that_label_first() -> None:
    encoder = get_encoder(TINY_TEST_MODEL)
    prompts = label_matrix(encoder, LABELS, DEFAULT_TEMPLATE)
    for index, label in enumerate(LABELS):
        assert top_labels(encoder, prompts[index : index + 1], LabelChoice(LABELS))[0][0] == label


def test_prompt_embeddings_are_cached_per_model_labels_and_template() -> None:
    tiny, other = get_encoder(TINY_TEST_MODEL), get_encoder("mmsearch-tiny/random:2")
    first = label_matrix(tiny, LABELS, DEFAULT_TEMPLATE)
    assert label_matrix(tiny, list(LABELS), DEFAULT_TEMPLATE) is first
    assert label_matrix(tiny, LABELS, "{} in a photo") is not first
    assert label_matrix(tiny, LABELS[:2], DEFAULT_TEMPLATE) is not first
    assert not np.allclose(label_matrix(other, LABELS, DEFAULT_TEMPLATE), first)
