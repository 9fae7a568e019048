"""BLIP's image-text matching head as a re-ranker (see mmsearch.encoders.rerankers): hub
repositories, local folders, and random-weight test architectures with an in-memory tokenizer."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import (
    AutoConfig,
    AutoTokenizer,
    BertTokenizer,
    BlipConfig,
    BlipForImageTextRetrieval,
    BlipImageProcessorPil,
    BlipProcessor,
)

from mmsearch.encoders.base import ModelRef, UnknownModel
from mmsearch.encoders.hub import hub_cached, hub_endpoint, require_reachable
from mmsearch.encoders.torch_util import resolve_device

log = logging.getLogger(__name__)

TEST_ARCHITECTURES = ("tiny-blip", "blip-base")
BATCH = 16  # pairs per forward
_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]"]


class BlipMatcher:
    """BLIP's image-text matching head over (text, image) pairs."""

    def __init__(self, ref: ModelRef, device: str = "auto", cache_dir: Path | None = None):
        self.name = ref.name
        self.is_random = ref.is_random
        self.device = resolve_device(device)
        if ref.is_random:
            model, processor = _build_random(ref)
        else:
            model, processor = _load_pretrained(ref, cache_dir)
        self._dtype = torch.float16 if self.device.startswith("cuda") else torch.float32
        model.to(device=self.device, dtype=self._dtype)
        model.eval()
        self._model: Any = model
        self._processor: Any = processor
        size = processor.image_processor.size
        self.image_side = int(size.get("height") or size.get("shortest_edge") or 384)
        if self.is_random:
            log.warning("re-ranker %s has RANDOM weights: for tests and demos only", self.name)

    @torch.inference_mode()
    def score(self, text: str, images: Sequence[Image.Image]) -> np.ndarray:
        """The match probability of `text` with each image, (n,) float32 in [0, 1]."""
        found = []
        for start in range(0, len(images), BATCH):
            batch = [image.convert("RGB") for image in images[start : start + BATCH]]
            inputs = self._processor(
                images=batch, text=[text] * len(batch), padding=True, return_tensors="pt"
            )
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            inputs["pixel_values"] = inputs["pixel_values"].to(self._dtype)
            logits = self._matching_logits(inputs)
            found.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy())
        if not found:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(found).astype(np.float32)

    def _matching_logits(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """BlipForImageTextRetrieval's matching head, as its forward runs it, with the image
        attention mask on the model's device (its forward makes it on the CPU)."""
        model = self._model
        image_embeds = model.vision_model(pixel_values=inputs["pixel_values"]).last_hidden_state
        image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=self.device)
        text = model.text_encoder(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            encoder_hidden_states=image_embeds,
            encoder_attention_mask=image_mask,
        ).last_hidden_state
        logits: torch.Tensor = model.itm_head(text[:, 0, :])
        return logits

    def save_pretrained(self, directory: Path | str) -> Path:
        """Write model, tokenizer and processor, so `itm:LABEL/file:DIR` loads them back."""
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self._model.save_pretrained(path)
        self._processor.save_pretrained(path)
        return path


def _load_pretrained(ref: ModelRef, cache_dir: Path | None) -> tuple[Any, Any]:
    if ref.weights_file is not None:
        source = ref.weights_file
        if not (Path(source) / "config.json").is_file():
            raise UnknownModel(f"re-ranker folder not found (no config.json): {source}")
    else:
        source = f"{ref.arch}/{ref.weights}"
        if not hub_cached(source, ["config.json"], cache_dir):
            require_reachable(hub_endpoint())
    cache = str(cache_dir) if cache_dir else None
    config = AutoConfig.from_pretrained(source, cache_dir=cache)
    heads = list(getattr(config, "architectures", None) or [])
    if config.model_type != "blip" or "BlipForImageTextRetrieval" not in heads:
        raise UnknownModel(
            f"{ref.name!r} is not a BLIP image-text matching model (its architectures: {heads}); "
            "use one such as itm:Salesforce/blip-itm-base-coco"
        )
    model = BlipForImageTextRetrieval.from_pretrained(source, cache_dir=cache)
    # Pillow's resize, as the images were prepared when the model was saved or published
    images = BlipImageProcessorPil.from_pretrained(source, cache_dir=cache)
    tokenizer = AutoTokenizer.from_pretrained(source, cache_dir=cache)
    return model, BlipProcessor(image_processor=images, tokenizer=tokenizer)


def _build_random(ref: ModelRef) -> tuple[Any, Any]:
    """A BLIP matching model with seeded random weights and an in-memory word-piece tokenizer."""
    if ref.arch not in TEST_ARCHITECTURES:
        raise UnknownModel(
            f"unknown re-ranker test architecture {ref.arch!r}; have {list(TEST_ARCHITECTURES)}"
        )
    if ref.arch == "blip-base":  # BLIP base's sizes: ViT-B/16 at 384 px, a 12-layer text tower
        config = BlipConfig()
    else:
        # wide initial weights: at the usual 0.02 a tiny random head answers alike for all
        tower = {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "initializer_range": 0.5,
        }
        config = BlipConfig(
            text_config={**tower, "num_hidden_layers": 2, "encoder_hidden_size": 32},
            vision_config={**tower, "num_hidden_layers": 2, "image_size": 32, "patch_size": 8},
            image_text_hidden_size=16,
        )
    text: Any = config.text_config
    vision: Any = config.vision_config
    tokenizer = _word_piece_tokenizer(int(text.vocab_size))
    side = int(vision.image_size)
    images = BlipImageProcessorPil(size={"height": side, "width": side})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ref.seed)
        model = BlipForImageTextRetrieval(config)
    return model, BlipProcessor(image_processor=images, tokenizer=tokenizer)


def _word_piece_tokenizer(size: int) -> BertTokenizer:
    """A lowercasing word-piece tokenizer over letters and digits, padded to `size` ids."""
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    vocab = [*_SPECIALS, *chars, *(f"##{c}" for c in chars)]
    vocab += [f"[unused{i}]" for i in range(size - len(vocab))]
    ids = {token: i for i, token in enumerate(vocab[:size])}
    core = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=True)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])]
    )
    return BertTokenizer(
        tokenizer_object=core,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )
