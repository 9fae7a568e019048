"""What runs a model: torch eager (the default), or its exported ONNX towers under ONNX Runtime
or OpenVINO, at a precision. No torch here: a torch-free install runs exports.

- `torch`: the backend's own model; `auto` precision (fp16 on a GPU, fp32 on the CPU).
- `onnx`, `openvino`: the model's export (mmsearch.encoders.export_cache), made with torch at
  the first start that lacks it and reused after; fp32, int8 (calibrated, see
  mmsearch.encoders.quantizing), or fp16 on a GPU. `auto` is fp16 on a GPU, else fp32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mmsearch.encoders.base import (
    Encoder,
    EncoderFactory,
    ExportProblem,
    ModelRef,
    ModelUnavailable,
    UnknownModel,
    root_cause,
)
from mmsearch.encoders.sessions import EXPORTED_RUNTIMES, RUNTIMES

PRECISIONS = ("auto", "fp32", "fp16", "int8")
DEFAULT_EXPORT_ROOT = Path("~/.cache/mmsearch/exports")


class RuntimeUnsupported(ValueError):
    """A runtime and precision that do not go together (or on this device)."""


def check_runtime(name: str, precision: str) -> None:
    """Raise RuntimeUnsupported for an unknown runtime or precision, or a pair that does not
    go together."""
    if name not in RUNTIMES:
        raise RuntimeUnsupported(f"unknown runtime {name!r}; known: {', '.join(RUNTIMES)}")
    if precision not in PRECISIONS:
        raise RuntimeUnsupported(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
    if name == "torch" and precision != "auto":
        raise RuntimeUnsupported(
            f"precision {precision} needs runtime onnx or openvino (torch runs auto: fp16 on "
            "a GPU, fp32 on the CPU)"
        )


@dataclass(frozen=True)
class EncoderRuntime:
    """A runtime, a precision, and where exports are kept."""

    name: str = "torch"
    precision: str = "auto"
    export_root: Path | None = None
    calibration: Path | None = None  # images int8 is calibrated on (None: generated ones)

    def __post_init__(self) -> None:
        check_runtime(self.name, self.precision)

    @property
    def label(self) -> str:
        return f"{self.name}/{self.precision}"

    @property
    def exports(self) -> Path:
        return (self.export_root or DEFAULT_EXPORT_ROOT).expanduser()

    def build(
        self,
        ref: ModelRef,
        factory: EncoderFactory,
        device: str,
        cache_dir: Path | None,
        text_only: bool,
    ) -> Encoder:
        """Load `ref` with this runtime; `factory` builds the backend's torch model."""
        if self.name not in EXPORTED_RUNTIMES:
            try:
                return factory(ref, device, cache_dir, text_only)
            except ImportError as exc:  # a lean install (no torch) left on the default runtime
                raise ExportProblem(
                    f"runtime torch needs {exc.name}, which is not installed: install "
                    "mmsearch[torch] (infra/setup.sh), or run an export with "
                    "MMSEARCH_RUNTIME=onnx or openvino"
                ) from exc
        try:
            return self._exported(ref, factory, device, cache_dir, text_only)
        except (ModelUnavailable, UnknownModel):
            raise
        except Exception as exc:  # the exporter's, the quantiser's and the runtimes' own errors
            raise ExportProblem(f"{ref.name} ({self.label}): {root_cause(exc)}") from exc

    def _exported(
        self,
        ref: ModelRef,
        factory: EncoderFactory,
        device: str,
        cache_dir: Path | None,
        text_only: bool,
    ) -> Encoder:
        from mmsearch.encoders.export_cache import load_exported

        device = self._device(device)
        precision = self.precision
        if precision == "auto":
            precision = "fp16" if device.startswith("cuda") else "fp32"
        if precision == "fp16" and not device.startswith("cuda"):
            raise ModelUnavailable(
                f"precision fp16 runs on a GPU only ({device} here): use fp32 or int8"
            )
        return load_exported(
            ref,
            runtime=self.name,
            precision=precision,
            device=device,
            root=self.exports,
            text_only=text_only,
            calibration=self.calibration,
            load_torch=lambda towers_text_only: factory(ref, "cpu", cache_dir, towers_text_only),
        )

    def _device(self, device: str) -> str:
        """`auto` → a GPU where this runtime has one, else cpu."""
        if device != "auto":
            return device
        if self.name == "onnx":
            try:
                import onnxruntime as ort
            except ImportError:
                return "cpu"
            return "cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"
        return "cpu"
