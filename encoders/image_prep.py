"""An image tower's input from a decoded image, in numpy and Pillow alone (no torch).

It follows open_clip's evaluation transform step for step (resize by the shortest or longest
side or squash, centre crop or pad, RGB, scale to [0, 1], normalise), so the pixels equal the
torch pipeline's: the same Pillow resize, the same rounding of sizes and crop offsets.
The settings come from an export's `preprocess_cfg.json`, open_clip's `PreprocessCfg` fields,
plus three that Hugging Face image processors need (see mmsearch.encoders.hf_prep): `edge`, the
shortest side before a smaller crop; `crop` `floor`, offsets rounded down; `rgb_first`, images
made RGB (transparency on white) before they are resized.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
_RESAMPLING = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}
RESIZE_MODES = ("shortest", "longest", "squash")
CROP_ROUNDING = ("round", "floor")


class UnsupportedPreprocessing(ValueError):
    """A preprocessing setting this module cannot reproduce."""


@dataclass(frozen=True)
class ImagePrep:
    """Resize, crop and normalise like open_clip's evaluation transform."""

    size: tuple[int, int]  # height, width
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"
    fill_color: int = 0
    edge: int | None = None  # shortest side before the crop (None: the crop's side)
    crop: str = "round"  # crop offsets: rounded (torchvision) or rounded down (transformers)
    rgb_first: bool = False  # to RGB before resizing, transparency composited on white

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ImagePrep:
        """From a `preprocess_cfg.json` mapping; raise UnsupportedPreprocessing."""
        size = cfg.get("size", 224)
        pair = (int(size[0]), int(size[-1])) if isinstance(size, Sequence) else (size, size)
        interpolation = cfg.get("interpolation") or "bicubic"
        if interpolation == "random":  # a training setting: evaluation resizes bicubic
            interpolation = "bicubic"
        resize_mode = cfg.get("resize_mode") or "shortest"
        if interpolation not in _RESAMPLING:
            raise UnsupportedPreprocessing(f"interpolation {interpolation!r} is not supported")
        if resize_mode not in RESIZE_MODES:
            raise UnsupportedPreprocessing(f"resize_mode {resize_mode!r} is not supported")
        crop = cfg.get("crop") or "round"
        if crop not in CROP_ROUNDING:
            raise UnsupportedPreprocessing(f"crop {crop!r} is not supported")
        edge = cfg.get("edge")
        return cls(
            size=(int(pair[0]), int(pair[1])),
            mean=_triple(cfg.get("mean") or OPENAI_MEAN),
            std=_triple(cfg.get("std") or OPENAI_STD),
            interpolation=interpolation,
            resize_mode=resize_mode,
            fill_color=int(cfg.get("fill_color") or 0),
            edge=int(edge) if edge else None,
            crop=crop,
            rgb_first=bool(cfg.get("rgb_first", False)),
        )

    def to_config(self) -> dict[str, Any]:
        """The `preprocess_cfg.json` mapping of these settings (open_clip's fields, and ours
        where they are not the default)."""
        ours = {"edge": self.edge, "crop": self.crop, "rgb_first": self.rgb_first}
        defaults = {"edge": None, "crop": "round", "rgb_first": False}
        return {
            "size": list(self.size),
            "mode": "RGB",
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "resize_mode": self.resize_mode,
            "fill_color": self.fill_color,
            **{key: value for key, value in ours.items() if value != defaults[key]},
        }

    def __call__(self, image: Image.Image) -> np.ndarray:
        """(3, H, W) float32 for one image."""
        return self.normalize(self.geometry(image)[np.newaxis])[0]

    def geometry(self, image: Image.Image) -> np.ndarray:
        """(H, W, 3) uint8: the image resized and cropped (or padded) to the tower's input, the
        step that needs the whole decoded image (the feeder runs it in its processes)."""
        if self.rgb_first:
            image = _rgb_on_white(image)
        image = self._resized(image)
        if image.size != (self.size[1], self.size[0]):
            image = _center_crop_or_pad(image, self.size, self.fill_color, self.crop)
        if image.mode != "RGB":
            image = image.convert("RGB")
        return np.asarray(image, dtype=np.uint8)

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """(n, H, W, 3) uint8 → (n, 3, H, W) float32, scaled to [0, 1] and normalised (the
        operations of torchvision's ToTensor and Normalize, in their order)."""
        scaled = pixels.astype(np.float32) / np.float32(255.0)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(((scaled - mean) / std).transpose(0, 3, 1, 2))

    def _resized(self, image: Image.Image) -> Image.Image:
        height, width = self.size
        resample = _RESAMPLING[self.interpolation]
        if self.resize_mode == "squash":
            return image.resize((width, height), resample)
        if self.resize_mode == "shortest" and (height == width or self.edge is not None):
            return image.resize(_shortest_side(image.size, self.edge or height), resample)
        # Keep the aspect ratio, by the longest side or (non-square targets) the shortest.
        longest = 1.0 if self.resize_mode == "longest" else 0.0
        ratio_h, ratio_w = image.height / height, image.width / width
        ratio = max(ratio_h, ratio_w) * longest + min(ratio_h, ratio_w) * (1.0 - longest)
        new_h, new_w = round(image.height / ratio), round(image.width / ratio)
        if self.resize_mode != "longest":
            resample = Image.Resampling.BICUBIC  # open_clip's keep-ratio resize is bicubic
        return image.resize((new_w, new_h), resample)


def _triple(values: Sequence[float] | float) -> tuple[float, float, float]:
    if isinstance(values, int | float):
        return (float(values),) * 3
    first, second, third = (float(v) for v in values)
    return first, second, third


def _shortest_side(size: tuple[int, int], target: int) -> tuple[int, int]:
    """(width, height) with the shorter side `target` (torchvision's rounding down)."""
    width, height = size
    if width <= height:
        return target, int(target * height / width)
    return int(target * width / height), target


def _rgb_on_white(image: Image.Image) -> Image.Image:
    """`image` in RGB, any transparency composited onto white (as transformers does)."""
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _center_crop_or_pad(
    image: Image.Image, size: tuple[int, int], fill: int, rounding: str = "round"
) -> Image.Image:
    """The centre `size` (height, width) of `image`, padded with `fill` where it is smaller."""
    height, width = size
    if width > image.width or height > image.height:
        bands = len(image.getbands())
        color = fill if bands == 1 else (fill,) * bands
        padded = Image.new(image.mode, (max(width, image.width), max(height, image.height)), color)
        if image.mode == "P":  # the fill is a palette index, as in the image's own palette
            padded.putpalette(image.getpalette() or [])
        left = (width - image.width) // 2 if width > image.width else 0
        top = (height - image.height) // 2 if height > image.height else 0
        padded.paste(image, (left, top))
        image = padded
    if rounding == "floor":
        top, left = (image.height - height) // 2, (image.width - width) // 2
    else:
        top = int(round((image.height - height) / 2.0))
        left = int(round((image.width - width) / 2.0))
    return image.crop((left, top, left + width, top + height))
