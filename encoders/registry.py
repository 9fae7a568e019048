"""The encoder registry: model names → backends; one loaded instance per process and name, kept
in a bounded cache (see mmsearch.encoders.cache)."""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from mmsearch.encoders.allowed import WeightsNotAllowed, weights_allowed
from mmsearch.encoders.base import (
    Encoder,
    EncoderFactory,
    ModelRef,
    ModelUnavailable,
    UnknownModel,
    canonical_name,
    parse_model_name,
    root_cause,
)
from mmsearch.encoders.cache import ModelCache
from mmsearch.encoders.runtimes import EncoderRuntime

log = logging.getLogger(__name__)


_Key = tuple[str, str, bool, str, str]  # model name, device, text_only, runtime, precision
_BACKENDS: dict[str, EncoderFactory] = {}
_FAILURES: dict[str, str] = {}  # model name -> why its last load failed
# (model name, text_only, runtime) -> when its load last found it unavailable: a failed full
# load does not hold up a text-only one, nor one on another runtime.
_UNAVAILABLE_SINCE: dict[tuple[str, bool, str], float] = {}
# How long a model whose weights could not be had is answered as unavailable without a new try:
# each try may wait on the network, and clients asking again should not each wait for it.
FAILURE_MEMORY_S = 30.0


def _release_device_memory() -> None:
    """After a model is dropped: collect it now, and give the GPU memory torch's allocator kept
    for it back to the device (other processes and models can use it)."""
    gc.collect()
    torch = sys.modules.get("torch")  # never imported here: a text-free client has no torch
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


_CACHE: ModelCache[_Key, Encoder] = ModelCache(
    name_of=lambda key: key[0], on_evict=_release_device_memory
)

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

    import mmsearch.encoders.open_clip_backend  # noqa: F401 - registers bundled configs

    return list(open_clip.list_models())


def validate_model_name(name: str) -> ModelRef:
    """Parse a model name and check that its backend exists; raise UnknownModel."""
    ref = parse_model_name(name)
    if ref.backend not in _BACKENDS:
        raise UnknownModel(f"unknown encoder backend {ref.backend!r}; have {list_backends()}")
    return ref


def configure_cache(max_models: int, idle_ttl_s: float, keep: Iterable[str] = ()) -> None:
    """Bound the loaded models: at most `max_models` (least recently used go first), and each
    dropped after `idle_ttl_s` unused (0: never), except the models named in `keep`."""
    _CACHE.configure(max_models, idle_ttl_s, {canonical_name(name) for name in keep})


def get_encoder(
    name: str,
    device: str = "auto",
    cache_dir: Path | None = None,
    text_only: bool = False,
    weights_dirs: Sequence[Path] | None = None,
    log_failure: bool = True,
    runtime: EncoderRuntime | None = None,
) -> Encoder:
    """The process-wide encoder for `name`, loaded on first use (and again after eviction).

    `text_only`: the text tower is enough (a loaded full model is used if there is one).
    `weights_dirs`: local weights must lie in one of these folders, else WeightsNotAllowed is
    raised before any file is looked at (None: anywhere, for the operator's own tools).
    `log_failure`: log why the model cannot be loaded (off where the caller reports it).
    `runtime`: what runs the model (torch eager unless given; see mmsearch.encoders.runtimes).
    """
    ref = validate_model_name(name)
    if weights_dirs is not None and not weights_allowed(name, weights_dirs):
        raise WeightsNotAllowed(f"model {name!r} loads weights from outside the weights folders")
    runtime = runtime or EncoderRuntime()

    def build() -> Encoder:
        return runtime.build(ref, _BACKENDS[ref.backend], device, cache_dir, text_only)

    def load() -> Encoder:
        via = "" if runtime.name == "torch" else f", {runtime.label}"
        return _load(ref, build, device, via, text_only, log_failure)

    flavour = (runtime.name, runtime.precision)
    full = (ref.name, device, False, *flavour)
    return _CACHE.get_or_load((ref.name, device, text_only, *flavour), load, full)


def _load(
    ref: ModelRef,
    build: Callable[[], Encoder],
    device: str,
    via: str,
    text_only: bool,
    log_failure: bool,
) -> Encoder:
    """Build an encoder, logging the start and the outcome (`via`: the runtime, for the log);
    a model that keeps failing the same way is logged once, not once per request for it."""
    towers = "text tower" if text_only else "text and image towers"
    known_failure = _FAILURES.get(ref.name)
    scope = (ref.name, text_only, via)
    since = _UNAVAILABLE_SINCE.get(scope)
    if known_failure and since is not None and time.monotonic() - since < FAILURE_MEMORY_S:
        raise ModelUnavailable(known_failure)
    log.log(
        logging.DEBUG if known_failure else logging.INFO,
        "loading model %s (%s, device=%s%s)",
        ref.name,
        towers,
        device,
        via,
    )
    started = time.monotonic()
    try:
        encoder = build()
    except UnknownModel as exc:
        _failed(ref.name, exc, log_failure)
        _UNAVAILABLE_SINCE.pop(scope, None)
        raise
    except ModelUnavailable as exc:
        _unavailable(scope, exc, log_failure)
        raise
    except (OSError, RuntimeError) as exc:  # a device without memory
        unavailable = ModelUnavailable(root_cause(exc))
        _unavailable(scope, unavailable, log_failure)
        raise unavailable from exc
    _FAILURES.pop(ref.name, None)
    _UNAVAILABLE_SINCE.pop(scope, None)
    elapsed = time.monotonic() - started
    log.info(
        "model %s ready in %.1f s (%s on %s%s)", ref.name, elapsed, towers, encoder.device, via
    )
    return encoder


def _failed(name: str, exc: Exception, log_failure: bool) -> None:
    if log_failure and _FAILURES.get(name) != str(exc):
        log.warning("model %s cannot be loaded: %s", name, exc)
    _FAILURES[name] = str(exc)


def _unavailable(scope: tuple[str, bool, str], exc: ModelUnavailable, log_failure: bool) -> None:
    _failed(scope[0], exc, log_failure)
    _UNAVAILABLE_SINCE[scope] = time.monotonic()


def load_failures() -> dict[str, str]:
    """Why each model that failed its last load attempt failed, by name."""
    return dict(_FAILURES)


def loaded_encoders() -> list[Encoder]:
    """Encoders this process has loaded and still holds, least recently used first."""
    return _CACHE.values()
