"""The encoder registry: model names → backends; one loaded instance per process and name."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from mmsearch.encoders.base import Encoder, ModelRef, UnknownModel, parse_model_name

log = logging.getLogger(__name__)

# (model, device, cache_dir, text_only) -> encoder
EncoderFactory = Callable[[ModelRef, str, Path | None, bool], Encoder]

_Key = tuple[str, str, bool]  # model name, device, text_only
_BACKENDS: dict[str, EncoderFactory] = {}
_LOADED: dict[_Key, Encoder] = {}
_LOADING: dict[_Key, threading.Lock] = {}
_LOCK = threading.Lock()

TINY_TEST_MODEL = "mmsearch-tiny/random"


def register_backend(name: str, factory: EncoderFactory) -> None:
    """Make a backend available under `name:` in model names."""
    _BACKENDS[name] = factory


def _open_clip_factory(
    ref: ModelRef, device: str, cache_dir: Path | None, text_only: bool
) -> Encoder:
    from mmsearch.encoders.open_clip_backend import (
        OpenClipEncoder,  # torch is imported only when needed
    )

    return OpenClipEncoder(ref, device=device, cache_dir=cache_dir, text_only=text_only)


def _hf_factory(ref: ModelRef, device: str, cache_dir: Path | None, text_only: bool) -> Encoder:
    from mmsearch.encoders.hf_backend import HFEncoder  # torch and transformers only when needed

    return HFEncoder(ref, device=device, cache_dir=cache_dir, text_only=text_only)


register_backend("open_clip", _open_clip_factory)
register_backend("hf", _hf_factory)


def list_backends() -> list[str]:
    """Names of the registered backends."""
    return sorted(_BACKENDS)


def list_architectures() -> list[str]:
    """open_clip architectures, including the bundled test architectures."""
    import open_clip

    from mmsearch.encoders import open_clip_backend  # noqa: F401 - registers bundled configs

    return list(open_clip.list_models())


def validate_model_name(name: str) -> ModelRef:
    """Parse a model name and check that its backend exists; raise UnknownModel."""
    ref = parse_model_name(name)
    if ref.backend not in _BACKENDS:
        raise UnknownModel(f"unknown encoder backend {ref.backend!r}; have {list_backends()}")
    return ref


def get_encoder(
    name: str, device: str = "auto", cache_dir: Path | None = None, text_only: bool = False
) -> Encoder:
    """The process-wide encoder for `name`, loaded on first use.

    `text_only`: the text tower is enough (a loaded full model is used if there is one).
    """
    ref = validate_model_name(name)
    key = (ref.name, device, text_only)
    with _LOCK:
        encoder = _LOADED.get((ref.name, device, False)) or _LOADED.get(key)
        if encoder is not None:
            return encoder
        load_lock = _LOADING.setdefault(key, threading.Lock())
    with load_lock:  # one load per model; other models and lookups are not blocked meanwhile
        with _LOCK:
            encoder = _LOADED.get(key)
        if encoder is None:
            towers = "text tower" if text_only else "text and image towers"
            log.info("loading encoder %s (%s, device=%s)", ref.name, towers, device)
            encoder = _BACKENDS[ref.backend](ref, device, cache_dir, text_only)
            with _LOCK:
                _LOADED[key] = encoder
        return encoder


def loaded_encoders() -> list[Encoder]:
    """Encoders this process has loaded."""
    with _LOCK:
        return list(_LOADED.values())
