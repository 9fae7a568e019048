"""The list of models a process may load on request, and its settings."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from pydantic import ValidationError

from mmsearch.encoders import is_allowed
from mmsearch.infra.settings import Settings


class InUse:
    """The models of existing collections, and how often they were asked for."""

    def __init__(self, *models: str) -> None:
        self.models, self.asked = list(models), 0

    def __call__(self) -> Iterable[str]:
        self.asked += 1
        return self.models


def test_configured_models_are_allowed_without_listing_collections() -> None:
    in_use = InUse("ViT-L-14/x")
    assert is_allowed("ViT-B-32/laion2b_s34b_b79k", ["ViT-B-32/laion2b_s34b_b79k"], in_use)
    assert is_allowed(
        "open_clip:ViT-B-32/laion2b_s34b_b79k", ["ViT-B-32/laion2b_s34b_b79k"], in_use
    )
    assert in_use.asked == 0
    assert is_allowed("ViT-L-14/x", ["ViT-B-32/laion2b_s34b_b79k"], in_use)
    assert in_use.asked == 1


@pytest.mark.parametrize("name", ["ViT-L-14/x ", "hf:ViT-L-14/x", "ViT-L-14/y", "nope", ""])
def test_other_names_are_not_allowed(name: str) -> None:
    assert not is_allowed(name, ["ViT-B-32/laion2b_s34b_b79k"], InUse("ViT-L-14/x:1"))


def test_settings_read_the_model_list_as_commas_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMSEARCH_DEFAULT_MODEL", "a/b")
    monkeypatch.setenv("MMSEARCH_MODELS", "c/d, hf:e/f")
    assert Settings().allowed_models == ["a/b", "c/d", "hf:e/f"]
    monkeypatch.setenv("MMSEARCH_MODELS", '["c/file:/m/x,y.pt"]')
    monkeypatch.setenv("MMSEARCH_WEIGHTS_DIRS", "/m")
    assert Settings().allowed_models == ["a/b", "c/file:/m/x,y.pt"]
    monkeypatch.delenv("MMSEARCH_MODELS")
    assert Settings().allowed_models == ["a/b"]
    monkeypatch.setenv("MMSEARCH_MODEL_CACHE_SIZE", "0")
    with pytest.raises(ValidationError):
        Settings()
