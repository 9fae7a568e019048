"""A model that cannot be loaded says why (the cause, not an exception's class name), once in the
log however often it is asked for; a model that loads says so once, with its load time."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mmsearch.encoders import ModelUnavailable, UnknownModel, get_encoder, load_failures

REGISTRY_LOG = "mmsearch.encoders.registry"


def test_pretrained_weights_that_cannot_be_downloaded_are_unavailable_with_the_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = "RN50/openai"  # offline in tests, not in the cache, and tried by no other test
    caplog.set_level(logging.INFO)
    for text_only in (False, True, False):
        with pytest.raises(ModelUnavailable) as raised:
            get_encoder(model, text_only=text_only)
        message = str(raised.value)
        assert "could not download" in message and "offline" in message
        assert "RuntimeError" not in message and "Traceback" not in message
    assert load_failures()[model] == message
    said = [r for r in caplog.records if r.levelno >= logging.WARNING and model in r.getMessage()]
    assert len(said) == 1 and said[0].name == REGISTRY_LOG and said[0].exc_info is None


def test_an_unknown_pretrained_tag_names_the_known_ones(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(UnknownModel, match=r"unknown pretrained tag 'laion9x'.*known tags: \["):
        get_encoder("ViT-B-32/laion9x")
    # Said once, by the platform: open_clip's own error line on the root logger is not reached.
    assert not [r for r in caplog.records if r.name == "root"]


def test_a_model_that_loads_says_ready_once(caplog: pytest.LogCaptureFixture) -> None:
    model = "mmsearch-tiny/random:41"
    caplog.set_level(logging.INFO, logger=REGISTRY_LOG)
    for _ in range(3):
        get_encoder(model)
    ready = [r.getMessage() for r in caplog.records if f"model {model} ready in" in r.getMessage()]
    assert len(ready) == 1, ready
    assert model not in load_failures()


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
@pytest.mark.parametrize("text_only", [False, True])
def test_a_damaged_weights_file_is_unavailable_with_its_name_and_cause(
    tmp_path: Path, suffix: str, text_only: bool
) -> None:
    junk = tmp_path / f"junk{suffix}"
    junk.write_bytes(b"xxxx not weights at all")
    with pytest.raises(ModelUnavailable) as raised:
        get_encoder(f"mmsearch-tiny/file:{junk}", text_only=text_only)
    message = str(raised.value)
    assert message.startswith(f"could not read weights file {junk.name}: "), message
    assert len(message) > len(f"could not read weights file {junk.name}: ")  # the cause
