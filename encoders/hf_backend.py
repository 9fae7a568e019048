"""Hugging Face transformers CLIP and SigLIP models behind the Encoder protocol.

Model names (backend prefix `hf:`; they parse with `mmsearch.encoders.base.parse_model_name`):

- `hf:ORG/NAME` - the hub repository `ORG/NAME`, e.g. `hf:openai/clip-vit-base-patch32` or
  `hf:google/siglip-base-patch16-224`; downloaded into `cache_dir` (or the default HF cache),
  honouring `HF_HUB_OFFLINE`.
- `hf:LABEL/file:PATH` - a local directory written by `save_pretrained` (model, tokenizer and
  image processor files together, e.g. by `HFEncoder.save_pretrained`); `LABEL` is free text,
  `local` by convention: `hf:local/file:/models/my-clip`. The model type comes from the
  directory's config.json.
- `hf:ARCH/random[:SEED]` - random weights for tests, with `ARCH` one of the tiny test
  architectures in `TEST_ARCHITECTURES` (`tiny-clip`, `tiny-siglip`); seeded like open_clip's
  random models (default seed 0) and marked `is_random`. Their byte-level BPE tokenizer (no
  merges: one token per character) is built in memory, so they work offline.
  A hub repository literally named `ORG/random` is therefore not reachable.

Supported model types are `clip` (CLIPModel) and `siglip` (SiglipModel). Texts longer than the
text context are truncated; truncation and padding are on the right. CLIP pads to the longest
text in the batch (it pools at the first end-of-text token); SigLIP pads to the full context,
as it was trained (it pools at the last position, and takes no attention mask: its tokenizer
gives none). Images go through the image processor's steps with Pillow (transformers' PIL
backend), reproduced by an ImagePrep (mmsearch.encoders.hf_prep) where the processor's settings
allow, so ingest can resize them in the feeder's processes and the exported towers see the same
pixels. `logit_scale` is `exp(model.logit_scale)`
for both; SigLIP scores pairs with `sigmoid(logit_scale * cosine + logit_bias)` rather than a
softmax, so its bias is exposed as `logit_bias` (0.0 for CLIP).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from huggingface_hub import constants as hf_constants
from huggingface_hub.errors import LocalEntryNotFoundError
from PIL import Image
from tokenizers.pre_tokenizers import ByteLevel
from transformers import (
    AutoImageProcessor,
    AutoModel,
    AutoTokenizer,
    CLIPConfig,
    CLIPTokenizer,
    PretrainedConfig,
    SiglipConfig,
)
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

from mmsearch.encoders.base import (
    ImageTowerNotLoaded,
    ModelRef,
    ModelUnavailable,
    UnknownModel,
    root_cause,
)
from mmsearch.encoders.hf_prep import hf_image_prep
from mmsearch.encoders.hub import hub_cached, hub_endpoint, require_reachable
from mmsearch.encoders.image_prep import ImagePrep, UnsupportedPreprocessing
from mmsearch.encoders.torch_util import TorchImageTower, resolve_device, to_unit_numpy

log = logging.getLogger(__name__)

SUPPORTED_MODEL_TYPES = ("clip", "siglip")
TEST_ARCHITECTURES = ("tiny-clip", "tiny-siglip")
_BOS, _EOS = "<|startoftext|>", "<|endoftext|>"
_TINY_CONTEXT = 16
_TINY_IMAGE = 32


class HFEncoder(TorchImageTower):
    """A transformers CLIP or SigLIP model loaded once; fp16 on GPU, fp32 on CPU.

    `text_only`: drop the vision tower once loaded (for an API that serves text queries only).
    `image_prep` is None where the image processor's settings cannot be reproduced: its own
    `preprocess` then runs, on the worker's fetch threads.
    """

    def __init__(
        self,
        ref: ModelRef,
        device: str = "auto",
        cache_dir: Path | None = None,
        text_only: bool = False,
    ) -> None:
        self.name = ref.name
        self.is_random = ref.is_random
        self.device = resolve_device(device)
        self.has_image_tower = not text_only
        self._dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        if ref.is_random:
            model, tokenizer, image_processor = _build_random(ref)
        else:
            model, tokenizer, image_processor = _load_pretrained(ref, cache_dir, self._dtype)
        model_type = str(model.config.model_type)
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise UnknownModel(
                f"unsupported hf model type {model_type!r} for {ref.name!r}; "
                f"have {list(SUPPORTED_MODEL_TYPES)}"
            )
        if text_only:
            model.vision_model = None
            if hasattr(model, "visual_projection"):
                model.visual_projection = None
            image_processor = None
            gc.collect()
        model.to(device=self.device, dtype=self._dtype)
        model.eval()
        tokenizer.padding_side = "right"
        tokenizer.truncation_side = "right"
        self._model: Any = model
        self._tokenizer: Any = tokenizer
        self._image_processor: Any = image_processor
        self.model_type = model_type
        self._padding: bool | str = "max_length" if model_type == "siglip" else True
        self._inputs = ("input_ids",) if model_type == "siglip" else ("input_ids", "attention_mask")
        self.image_prep: ImagePrep | None = None
        self.image_prep_problem: str | None = None
        if image_processor is not None:
            try:
                self.image_prep = hf_image_prep(image_processor)
            except UnsupportedPreprocessing as exc:
                self.image_prep_problem = str(exc)
                log.info("%s: images go through its own image processor (%s)", ref.name, exc)
        context = int(model.config.text_config.max_position_embeddings)
        self.context_length = min(context, int(getattr(tokenizer, "model_max_length", context)))
        self.logit_scale = float(model.logit_scale.float().exp().item())
        bias = getattr(model, "logit_bias", None)
        self.logit_bias = float(bias.float().item()) if isinstance(bias, torch.Tensor) else 0.0
        self.dim = int(self.embed_texts(["probe"]).shape[1])
        if self.is_random:
            log.warning("model %s has RANDOM weights: for tests and demos only", self.name)

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 unit vectors for texts; long texts are cut to the context length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = self._tokenizer(
            list(texts),
            padding=self._padding,
            truncation=True,
            max_length=self.context_length,
            return_tensors="pt",
        )
        inputs = {
            key: value.to(self.device) for key, value in tokens.items() if key in self._inputs
        }
        return to_unit_numpy(features(self._model.get_text_features(**inputs)))

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """Resize, crop and normalise one image (converted to RGB) to the model's input tensor."""
        if self._image_processor is None:
            raise ImageTowerNotLoaded(f"{self.name} was loaded without its image tower")
        if self.image_prep is not None:
            return torch.from_numpy(self.image_prep(image))
        pixels = self._image_processor(images=image.convert("RGB"), return_tensors="pt")
        tensor: torch.Tensor = pixels["pixel_values"][0]
        return tensor

    def _image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return features(self._model.get_image_features(pixel_values=pixels))

    def text_pooling(self) -> tuple[str, int | None] | None:
        """How the text tower pools, where a query may run on its tokens up to the pooled one
        (CLIP: causal, at the first end-of-text, or the highest id in legacy configs); None
        where every position counts (SigLIP: no causal mask, pools the last position)."""
        if self.model_type != "clip":
            return None
        eos_id = int(self._model.config.text_config.eos_token_id)
        return ("argmax", None) if eos_id == 2 else ("eos", eos_id)

    @property
    def model(self) -> Any:
        return self._model

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    def save_pretrained(self, directory: Path | str) -> Path:
        """Write model, tokenizer and image processor so `hf:local/file:DIR` loads them back."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self._model.save_pretrained(path)
        self._tokenizer.save_pretrained(path)
        self._image_processor.save_pretrained(path)
        return path


def _load_pretrained(
    ref: ModelRef, cache_dir: Path | None, dtype: torch.dtype
) -> tuple[Any, Any, Any]:
    """Model, tokenizer and image processor from a local directory or a hub repository."""
    if ref.weights_file is not None:
        directory = Path(ref.weights_file)
        if not (directory / "config.json").is_file():
            raise UnknownModel(f"hf model directory not found (no config.json): {directory}")
        source = str(directory)
    else:
        source = f"{ref.arch}/{ref.weights}"
        if not hub_cached(source, ["config.json"], cache_dir):
            require_reachable(hub_endpoint())
    cache = str(cache_dir) if cache_dir else None
    try:
        model = AutoModel.from_pretrained(source, cache_dir=cache, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(source, cache_dir=cache)
        image_processor = AutoImageProcessor.from_pretrained(source, cache_dir=cache, backend="pil")
    except (OSError, ValueError) as exc:
        if _hub_unreachable(exc):
            offline = " (offline: HF_HUB_OFFLINE is set)" if hf_constants.HF_HUB_OFFLINE else ""
            raise ModelUnavailable(
                f"could not download {source!r} from the hub{offline}: {root_cause(exc)}"
            ) from exc
        raise UnknownModel(f"cannot load hf model {source!r}: {exc}") from exc
    return model, tokenizer, image_processor


def _hub_unreachable(exc: BaseException | None) -> bool:
    """Whether loading failed because the hub could not be reached and nothing was cached (not
    because the repository or its files do not exist)."""
    while exc is not None:
        if isinstance(exc, LocalEntryNotFoundError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _build_random(ref: ModelRef) -> tuple[Any, Any, Any]:
    """A tiny test architecture with seeded random weights and an in-memory tokenizer."""
    if ref.arch not in TEST_ARCHITECTURES:
        raise UnknownModel(
            f"unknown hf test architecture {ref.arch!r}; have {list(TEST_ARCHITECTURES)}"
        )
    tokenizer = _byte_tokenizer()
    config = _tiny_config(ref.arch, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ref.seed)
        model = AutoModel.from_config(config)
    image_processor: Any
    if ref.arch == "tiny-siglip":
        image_processor = SiglipImageProcessorPil(
            size={"height": _TINY_IMAGE, "width": _TINY_IMAGE}
        )
    else:
        image_processor = CLIPImageProcessorPil(
            size={"shortest_edge": _TINY_IMAGE},
            crop_size={"height": _TINY_IMAGE, "width": _TINY_IMAGE},
        )
    return model, tokenizer, image_processor


def _byte_tokenizer() -> CLIPTokenizer:
    """A deterministic CLIP tokenizer over the 256 byte symbols, with no merges."""
    symbols = sorted(ByteLevel.alphabet())
    tokens = [*symbols, *(symbol + "</w>" for symbol in symbols), _BOS, _EOS]
    vocab = {token: index for index, token in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=_TINY_CONTEXT)


def _tiny_config(arch: str, tokenizer: CLIPTokenizer) -> PretrainedConfig:
    """A two-layer, 32-wide text and vision tower: fast enough for unit tests."""
    tower = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
    }
    text = {
        **tower,
        "vocab_size": len(tokenizer),
        "max_position_embeddings": _TINY_CONTEXT,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision = {**tower, "image_size": _TINY_IMAGE, "patch_size": 8}
    if arch == "tiny-siglip":
        return SiglipConfig(text_config=text, vision_config=vision)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)


def features(output: Any) -> torch.Tensor:
    """Projected embeddings from get_*_features (a tensor, or pooler_output in transformers 5)."""
    if isinstance(output, torch.Tensor):
        return output
    projected: torch.Tensor = output.pooler_output
    return projected
