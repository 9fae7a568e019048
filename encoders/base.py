"""The encoder contract and model-name parsing; no torch here."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from mmsearch.encoders.image_prep import ImagePrep

RANDOM = "random"
FILE_PREFIX = "file:"
DEFAULT_SEED = 0


class UnknownModel(ValueError):
    """A model name no backend can build."""


class ModelUnavailable(RuntimeError):
    """A known model whose weights cannot be had here: no download, an unreadable file."""


def root_cause(exc: BaseException) -> str:
    """The message of the first exception in `exc`'s chain (what went wrong, not how it was
    passed on), on one line; its class name when it has no message."""
    while True:
        inner = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if inner is None:
            break
        exc = inner
    message = " ".join(str(exc).split())
    return message or type(exc).__name__


class ExportProblem(ModelUnavailable):
    """A model that cannot run on an exported runtime (no export and no torch to make one, an
    export that fails its checks); the message says what to do."""


class ImageTowerNotLoaded(RuntimeError):
    """An image was given to an encoder loaded with its text tower only."""


@dataclass(frozen=True)
class ModelRef:
    """A parsed model name: `ARCH/TAG`, `ARCH/file:PATH`, `ARCH/random[:SEED]`, `backend:...`."""

    backend: str
    arch: str
    weights: str  # pretrained tag, "file:PATH" or "random[:SEED]"

    @property
    def is_random(self) -> bool:
        return self.weights == RANDOM or self.weights.startswith(RANDOM + ":")

    @property
    def seed(self) -> int:
        """The random-weights seed (DEFAULT_SEED for real weights, which do not use one)."""
        if not self.is_random:
            return DEFAULT_SEED
        _, _, seed = self.weights.partition(":")
        return int(seed) if seed else DEFAULT_SEED

    @property
    def weights_file(self) -> str | None:
        return self.weights[len(FILE_PREFIX) :] if self.weights.startswith(FILE_PREFIX) else None

    @property
    def name(self) -> str:
        prefix = "" if self.backend == "open_clip" else f"{self.backend}:"
        return f"{prefix}{self.arch}/{self.weights}"


def parse_model_name(name: str) -> ModelRef:
    """Split a model name into backend, architecture and weights; raise UnknownModel."""
    backend = "open_clip"
    head, sep, rest = name.partition(":")
    if sep and "/" not in head:
        backend, name = head, rest
    arch, sep, weights = name.partition("/")
    if not sep or not arch or not weights:
        raise UnknownModel(
            f"model name {name!r} must look like ARCH/TAG, ARCH/file:PATH or ARCH/random"
        )
    if weights.startswith(RANDOM + ":") and not weights[len(RANDOM) + 1 :].isdigit():
        raise UnknownModel(f"random seed in {name!r} must be an integer")
    return ModelRef(backend=backend, arch=arch, weights=weights)


def canonical_name(name: str) -> str:
    """The name a model is known by (`open_clip:A/B` is `A/B`); a malformed name as given."""
    try:
        return parse_model_name(name).name
    except UnknownModel:
        return name.strip()


class Encoder(Protocol):
    """Embeds texts and images into one space; vectors are float32 and L2-normalised."""

    name: str
    dim: int
    device: str
    is_random: bool
    has_image_tower: bool  # False when loaded text-only: embed_images raises ImageTowerNotLoaded
    logit_scale: float  # exp of the learned temperature: softmax(scale * cosine) for zero-shot

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 unit vectors for texts."""
        ...

    def preprocess(self, image: Image.Image) -> Any:
        """One decoded image → the model's input tensor (safe to run in worker threads)."""
        ...

    def embed_preprocessed(self, batch: Sequence[Any]) -> np.ndarray:
        """(n, dim) float32 unit vectors for preprocessed images."""
        ...

    # The image tower's resize and crop as open_clip's evaluation transform does them, where its
    # input is made that way: ingest then resizes in its feeder processes and hands the model
    # uint8 pixels (embed_pixels), normalised on the model's device. None: `preprocess` alone
    # knows (transformers' image processors).
    image_prep: ImagePrep | None

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(n, dim) float32 unit vectors for (n, H, W, 3) uint8 images of `image_prep`'s size,
        resized and cropped (`image_prep.geometry`); the same vectors as `embed_images`."""
        ...

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) float32 unit vectors for decoded images."""
        ...


_FORWARD_LOCKS: dict[str, threading.Lock] = {}
_FORWARD_LOCKS_GUARD = threading.Lock()


def image_forward_lock(device: str) -> threading.Lock:
    """Held while an image tower runs on `device`: one image forward at a time per device and
    process. Two at once split the CPU cores (or queue on the GPU) and finish no sooner, and
    while one runs the next batch is assembled (and uploaded) outside the lock. Text towers
    do not take it, so queries never wait behind an ingest batch."""
    with _FORWARD_LOCKS_GUARD:
        return _FORWARD_LOCKS.setdefault(device, threading.Lock())


# What a backend registers: builds an encoder from (model, device, cache_dir, text_only).
EncoderFactory = Callable[[ModelRef, str, Path | None, bool], Encoder]

# What returns the loaded encoder of a model name; the runtime's `encoder` method is one.
EncoderLoader = Callable[[str], Encoder]
