"""Re-rankers: names, random test models, a folder's model loaded back with the same scores,
and weights outside the allowed folders refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mmsearch.encoders import UnknownModel, WeightsNotAllowed
from mmsearch.encoders.blip_itm import BlipMatcher
from mmsearch.encoders.rerankers import get_reranker, parse_reranker
from mmsearch.infra.testing.photos import decode, generated_photos

TINY = "itm:tiny-blip/random"


def test_a_random_matcher_scores_each_pair_and_its_folder_loads_back(tmp_path: Path) -> None:
    matcher = get_reranker(TINY)
    assert get_reranker(TINY) is matcher  # loaded once per process
    assert matcher.is_random and matcher.image_side == 32
    images = [decode(p.data) for p in generated_photos(12)]
    scores = matcher.score("a red circle, number 3", images)
    assert scores.shape == (12,) and scores.dtype == np.float32
    assert ((scores > 0) & (scores < 1)).all() and np.ptp(scores) > 1e-3  # they differ by image
    one_by_one = [matcher.score("a red circle, number 3", [image])[0] for image in images]
    np.testing.assert_allclose(one_by_one, scores, atol=1e-5)  # batching changes nothing
    assert not np.allclose(matcher.score("something else entirely", images), scores)
    assert matcher.score("anything", []).shape == (0,)
    # the same as the model's own forward with its matching head
    processor = matcher._processor  # noqa: SLF001 - the model called directly
    inputs = processor(images=images, text=["a red circle, number 3"] * 12, return_tensors="pt")
    with torch.no_grad():
        logits = matcher._model(**inputs, use_itm_head=True).itm_score  # noqa: SLF001
    np.testing.assert_allclose(torch.softmax(logits, dim=1)[:, 1].numpy(), scores, atol=1e-6)

    assert isinstance(matcher, BlipMatcher)
    folder = matcher.save_pretrained(tmp_path / "matcher")
    again = get_reranker(f"itm:local/file:{folder}", weights_dirs=[tmp_path])
    assert not again.is_random
    np.testing.assert_allclose(again.score("a red circle, number 3", images), scores, atol=1e-6)
    with pytest.raises(WeightsNotAllowed):
        get_reranker(f"itm:local/file:{folder}", weights_dirs=[tmp_path / "elsewhere"])


def test_names_that_are_no_reranker_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownModel, match="not a re-ranker"):
        parse_reranker("hf:tiny-clip/random")
    with pytest.raises(UnknownModel, match="test architecture"):
        get_reranker("itm:tiny-nope/random")
    with pytest.raises(UnknownModel, match="no config.json"):
        get_reranker(f"itm:local/file:{tmp_path}", weights_dirs=[tmp_path])
