"""One exported graph (ONNX) run by ONNX Runtime or OpenVINO; no torch here.

A session takes one array for the graph's single input and gives back its first output.
Both runtimes are imported only when a session of theirs is opened, so an install without
either can still use the other (or torch).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx", "openvino")
EXPORTED_RUNTIMES = ("onnx", "openvino")

_NUMPY_TYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


class RuntimeMissing(RuntimeError):
    """The runtime's package is not installed."""


class Session(Protocol):
    """A loaded graph with one input."""

    device: str
    input_dtype: type[np.generic]
    batch_limit: int | None  # the graph's fixed batch size; None: any

    def run(self, array: np.ndarray) -> np.ndarray:
        """The graph's first output for one input array (cast to the input's type)."""
        ...


def open_session(path: Path, runtime: str, device: str, cache_dir: Path | None) -> Session:
    """A session for the graph at `path`; `cache_dir` keeps the runtime's compiled form."""
    if runtime == "onnx":
        return OrtSession(path, device)
    if runtime == "openvino":
        return OpenVinoSession(path, device, cache_dir)
    raise ValueError(f"runtime {runtime!r} does not run exported graphs")


class OrtSession:
    """ONNX Runtime: CUDA when the device is a GPU and the CUDA provider is installed."""

    def __init__(self, path: Path, device: str) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise RuntimeMissing(
                "runtime 'onnx' needs onnxruntime: pip install 'mmsearch[onnx]'"
            ) from exc
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: its warnings name graph internals
        providers: list[Any] = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise RuntimeMissing(
                    "device cuda with runtime 'onnx' needs onnxruntime-gpu (CUDA provider)"
                )
            index = int(device.partition(":")[2] or 0)
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
        self._session = ort.InferenceSession(str(path), options, providers=providers)
        if (
            device.startswith("cuda")
            and self._session.get_providers()[0] != "CUDAExecutionProvider"
        ):
            raise RuntimeMissing(f"ONNX Runtime could not start CUDA for {device}")
        self.device = device if device.startswith("cuda") else "cpu"
        graph_input = self._session.get_inputs()[0]
        self._input_name = graph_input.name
        self.input_dtype = _NUMPY_TYPES.get(graph_input.type, np.float32)
        batch = graph_input.shape[0] if graph_input.shape else None
        self.batch_limit = batch if isinstance(batch, int) and batch > 0 else None

    def run(self, array: np.ndarray) -> np.ndarray:
        feed = {self._input_name: np.ascontiguousarray(array, dtype=self.input_dtype)}
        output: np.ndarray = self._session.run(None, feed)[0]
        return output


class OpenVinoSession:
    """OpenVINO: reads the ONNX graph and compiles it for the CPU (or an Intel GPU), keeping
    the compiled form in `cache_dir` so a later start skips the compile."""

    def __init__(self, path: Path, device: str, cache_dir: Path | None) -> None:
        try:
            import openvino as ov
        except ImportError as exc:
            raise RuntimeMissing(
                "runtime 'openvino' needs openvino: pip install 'mmsearch[openvino]'"
            ) from exc
        core = ov.Core()
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            core.set_property({"CACHE_DIR": str(cache_dir)})
        target = "GPU" if device.startswith(("gpu", "cuda")) else "CPU"
        if target not in core.available_devices:
            raise RuntimeMissing(f"OpenVINO sees no {target} device here")
        # f32 where the graph is float: left to itself, OpenVINO runs bf16 on CPUs that have it,
        # which moves vectors by about 3e-3.
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        self._compiled = core.compile_model(core.read_model(str(path)), target, config)
        self.device = target.lower()
        element = self._compiled.input(0).get_element_type().to_dtype()
        self.input_dtype = np.dtype(element).type
        batch = self._compiled.input(0).get_partial_shape()[0]
        self.batch_limit = batch.get_length() if batch.is_static else None
        self._requests = threading.local()  # an infer request serves one call at a time

    def run(self, array: np.ndarray) -> np.ndarray:
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self._compiled.create_infer_request()
        request.infer([np.ascontiguousarray(array, dtype=self.input_dtype)])
        output: np.ndarray = request.get_output_tensor(0).data.copy()
        return output
