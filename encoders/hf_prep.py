"""A Hugging Face image processor's evaluation steps as an ImagePrep, where they can be.

transformers' PIL image processors (CLIP's and SigLIP's) make an image RGB (transparency on
white), resize it with Pillow (by its shortest edge, or squashed to a height and width), crop
its centre with offsets rounded down, scale it to [0, 1] and normalise it. An ImagePrep does the
same in numpy and Pillow, so the torch model, the exported towers and the feeder's processes
all see the same pixels. Settings it cannot reproduce raise UnsupportedPreprocessing, naming
the setting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mmsearch.encoders.image_prep import ImagePrep, UnsupportedPreprocessing

# PIL's resampling filter numbers, as image processors store them.
_RESAMPLE = {2: "bilinear", 3: "bicubic"}
_SCALE = 1 / 255


def hf_image_prep(processor: Any) -> ImagePrep:
    """The ImagePrep of an image processor's settings; raise UnsupportedPreprocessing."""
    name = type(processor).__name__

    def setting(key: str, default: Any = None) -> Any:
        value = getattr(processor, key, default)
        return default if value is None else value

    def refuse(what: str) -> UnsupportedPreprocessing:
        return UnsupportedPreprocessing(f"{name}: {what} is not supported")

    if not setting("do_resize", False):
        raise refuse("do_resize false (images of any size)")
    if setting("do_pad", False):
        raise refuse("do_pad")
    if not setting("do_rescale", False) or abs(float(setting("rescale_factor")) - _SCALE) > 1e-9:
        raise refuse("a rescale other than 1/255")
    resample = setting("resample", 2)
    interpolation = _RESAMPLE.get(int(getattr(resample, "value", resample)))
    if interpolation is None:
        raise refuse(f"resample {resample!r}")
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if setting("do_normalize", False):
        mean, std = _triple(setting("image_mean")), _triple(setting("image_std"))
    size = _size(setting("size"))
    crop = _size(setting("crop_size")) if setting("do_center_crop", False) else {}
    common: dict[str, Any] = {
        "mean": mean,
        "std": std,
        "interpolation": interpolation,
        "crop": "floor",
        "rgb_first": True,
    }
    if set(size) == {"height", "width"}:
        target = (size["height"], size["width"])
        if crop and (crop.get("height"), crop.get("width")) != target:
            raise refuse(f"a crop {crop} after resizing to {size}")
        return ImagePrep(size=target, resize_mode="squash", **common)
    if set(size) == {"shortest_edge"} and set(crop) == {"height", "width"}:
        edge, target = size["shortest_edge"], (crop["height"], crop["width"])
        if max(target) > edge:
            raise refuse(f"a crop {crop} larger than the shortest edge {edge}")
        return ImagePrep(size=target, edge=edge, resize_mode="shortest", **common)
    raise refuse(f"size {size} with crop {crop or None}")


def _size(value: Any) -> dict[str, int]:
    """The set fields of a size (a dict, or transformers' SizeDict)."""
    if value is None:
        return {}
    fields = value if isinstance(value, Mapping) else vars(value)
    return {key: int(v) for key, v in fields.items() if v is not None}


def _triple(values: Sequence[float] | float) -> tuple[float, float, float]:
    if isinstance(values, int | float):
        return (float(values),) * 3
    first, second, third = (float(v) for v in values)
    return first, second, third
