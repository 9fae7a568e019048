"""An exported model (ONNX towers) behind the Encoder protocol, run by ONNX Runtime or OpenVINO
with no torch in the process.

An export is a folder in Immich's layout, which mmsearch writes too (see
mmsearch.encoders.exporting):

    config.json                 open_clip model config: embed_dim, vision_cfg, text_cfg
    textual/model.onnx          token ids → text features (model.int8.onnx, model.fp16.onnx)
    textual/tokenizer.json      Hugging Face tokenizers file, and tokenizer_config.json
    visual/model.onnx           pixels (n, 3, H, W) → image features (and its precisions)
    visual/preprocess_cfg.json  open_clip PreprocessCfg: size, mean, std, interpolation, ...

mmsearch's own exports add an `mmsearch` section to config.json: the model name, the weights
digest, the temperature, and how the text tower pools (which lets a query run on the tokens up
to its last end-of-text only, as the torch path does).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mmsearch.encoders.base import ImageTowerNotLoaded, ModelUnavailable, image_forward_lock
from mmsearch.encoders.image_prep import ImagePrep, UnsupportedPreprocessing
from mmsearch.encoders.sessions import Session, open_session
from mmsearch.encoders.tokenize import TextTokenizer

log = logging.getLogger(__name__)

CONFIG = "config.json"
TOWERS = ("textual", "visual")
SHAPE_STEP = 8  # OpenVINO's token axis comes in multiples of this (padding is never pooled)
PRECISION_FILES = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx"}


def tower_file(folder: Path, tower: str, precision: str) -> Path:
    return folder / tower / PRECISION_FILES[precision]


def read_config(folder: Path) -> dict[str, Any]:
    """An export's config.json; ModelUnavailable when it is missing or not a JSON object."""
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"{folder} is not a model export: no readable {CONFIG}") from exc
    if not isinstance(config, dict):
        raise ModelUnavailable(f"{folder / CONFIG} is not a JSON object")
    return config


class ExportedEncoder:
    """Text and image towers of an export, each an ONNX Runtime or OpenVINO session."""

    def __init__(
        self,
        folder: Path,
        *,
        name: str,
        runtime: str,
        precision: str = "fp32",
        device: str = "cpu",
        text_only: bool = False,
        is_random: bool = False,
        compiled_cache: Path | None = None,
    ) -> None:
        config = read_config(folder)
        text_cfg: dict[str, Any] = config.get("text_cfg") or {}
        ours: dict[str, Any] = config.get("mmsearch") or {}
        self.name, self.runtime, self.precision = name, runtime, precision
        self.is_random = is_random
        self.has_image_tower = not text_only
        self.folder = folder

        def session(tower: str) -> Session:
            path = tower_file(folder, tower, precision)
            if not path.is_file():
                raise ModelUnavailable(f"{folder} has no {precision} {tower} model ({path.name})")
            return open_session(path, runtime, device, compiled_cache)

        self._text = session("textual")
        self._visual = None if text_only else session("visual")
        self.image_prep: ImagePrep | None = None
        if not text_only:
            try:
                config_file = folder / "visual" / "preprocess_cfg.json"
                self.image_prep = ImagePrep.from_config(_read(config_file))
            except UnsupportedPreprocessing as exc:
                raise ModelUnavailable(f"{folder}: {exc}") from exc
        kwargs: dict[str, Any] = text_cfg.get("tokenizer_kwargs") or {}
        self._tokenizer = TextTokenizer(
            folder / "textual",
            context_length=int(text_cfg.get("context_length", 77)),
            clean=kwargs.get("clean", "whitespace"),
            strip_sep=bool(kwargs.get("strip_sep_token", False)),
        )
        # Trim queries to their pooled token only where the export says the tower allows it.
        pool, eos_id = str(ours.get("text_pool")), ours.get("eos_id")
        eos = eos_id if isinstance(eos_id, int) else None
        trims = pool == "argmax" or (pool == "eos" and eos is not None)
        self._pool: tuple[str, int | None] | None = (pool, eos) if trims else None
        self.device = self._text.device
        self.logit_scale = float(ours.get("logit_scale", 100.0))
        self.logit_bias = float(ours.get("logit_bias", 0.0))
        self.dim = int(config.get("embed_dim") or self.embed_texts(["probe"]).shape[1])

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 unit vectors for texts; long texts are cut to the context length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _unit(_run(self._text, self.tokenize(texts)))

    def tokenize(self, texts: Sequence[str]) -> np.ndarray:
        """The text tower's input for texts: token ids, cut after the last pooled position
        where the export allows it."""
        ids = self._tokenizer(texts)
        if self._pool is not None:
            length = pooled_length(ids, *self._pool)
            if self.runtime == "openvino":  # it prepares each new input shape: keep them few
                length = min(-(-length // SHAPE_STEP) * SHAPE_STEP, ids.shape[1])
            ids = ids[:, :length]
        return ids

    def preprocess(self, image: Image.Image) -> np.ndarray:
        """Resize, crop and normalise one image to the image tower's (3, H, W) input."""
        if self.image_prep is None:
            raise ImageTowerNotLoaded(f"{self.name} was loaded without its image tower")
        return self.image_prep(image)

    def embed_preprocessed(self, batch: Sequence[Any]) -> np.ndarray:
        """(n, dim) float32 unit vectors for preprocessed images."""
        if not batch:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._embed(np.stack([np.asarray(item, dtype=np.float32) for item in batch]))

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(n, dim) float32 unit vectors for resized uint8 images (see Encoder.embed_pixels)."""
        if len(pixels) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.image_prep is None:
            raise ImageTowerNotLoaded(f"{self.name} was loaded without its image tower")
        return self._embed(self.image_prep.normalize(pixels))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) float32 unit vectors for decoded images."""
        return self.embed_preprocessed([self.preprocess(image) for image in images])

    def _embed(self, pixels: np.ndarray) -> np.ndarray:
        if self._visual is None:
            raise ImageTowerNotLoaded(f"{self.name} was loaded without its image tower")
        with image_forward_lock(self.device):
            return _unit(_run(self._visual, pixels))


def pooled_length(ids: np.ndarray, pool: str, eos_id: int | None) -> int:
    """How many leading tokens every row's pooled position lies within."""
    if pool == "argmax":
        index = ids.argmax(axis=1)
    else:
        index = (ids == (eos_id if eos_id is not None else -1)).argmax(axis=1)
    return int(index.max()) + 1


def _run(session: Session, inputs: np.ndarray) -> np.ndarray:
    """The session's output for a batch, in slices where the graph takes a fixed batch size."""
    limit = session.batch_limit
    if limit is None or len(inputs) <= limit:
        return session.run(inputs)
    return np.concatenate(
        [session.run(inputs[i : i + limit]) for i in range(0, len(inputs), limit)]
    )


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The cosine of each row of `a` with the same row of `b`."""
    return np.asarray((_unit(a) * _unit(b)).sum(axis=1))


def _unit(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return np.ascontiguousarray(features / np.maximum(norms, 1e-12), dtype=np.float32)


def _read(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot read {path}: {exc}") from exc
    return value if isinstance(value, dict) else {}
