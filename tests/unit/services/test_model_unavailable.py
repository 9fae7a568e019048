"""A model whose weights cannot be had is answered 503 `model_unavailable` with its cause and the
ways out; asked again soon after, the same answer comes at once, without another try."""

from __future__ import annotations

import logging

import pytest

from mmsearch.api.services.collections import load_encoder
from mmsearch.encoders import registry
from mmsearch.infra.errors import Unavailable
from mmsearch.infra.vectors import EdgeVectorStore
from tests.unit.services.conftest import RecordingLoader

UNDOWNLOADABLE = "RN101/yfcc15m"  # not in the model cache, HF_HUB_OFFLINE set; tried nowhere else


def test_an_unavailable_model_is_answered_at_once_with_the_ways_out(
    vectors: EdgeVectorStore, load: RecordingLoader, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mmsearch.encoders.registry")
    answers = []
    for _ in range(3):
        with pytest.raises(Unavailable) as refused:
            load_encoder(vectors, load, [UNDOWNLOADABLE], UNDOWNLOADABLE)
        assert refused.value.code == "model_unavailable" and refused.value.status == 503
        answers.append(refused.value.message)
    assert answers[0] == answers[1] == answers[2]
    assert "offline" in answers[0]  # the cause
    for way_out in ("ARCH/file:PATH", "MMSEARCH_WEIGHTS_DIRS", "internet", "another model"):
        assert way_out in answers[0], answers[0]
    tries = [r for r in caplog.records if r.getMessage().startswith("loading model")]
    assert len(tries) == 1, [r.getMessage() for r in tries]


def test_an_unavailable_model_is_tried_again_once_its_failure_is_forgotten(
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = "RN50/yfcc15m"  # not in the model cache, and tried by no other test
    monkeypatch.setattr(registry, "FAILURE_MEMORY_S", 0.0)
    caplog.set_level(logging.DEBUG, logger="mmsearch.encoders.registry")
    for _ in range(2):
        with pytest.raises(Unavailable):
            load_encoder(vectors, load, [model], model)
    tries = [r for r in caplog.records if r.getMessage().startswith(f"loading model {model}")]
    assert len(tries) == 2, [r.getMessage() for r in tries]
