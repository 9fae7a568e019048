"""int8 and fp16 forms of an export's towers, made from its fp32 graphs.

int8 is static (calibrated) quantisation in QDQ form, which ONNX Runtime and OpenVINO both run
with int8 kernels: weights per channel, activations per tensor, ranges measured on calibration
inputs. Only matrix products with a weight operand are quantised (attention's two activation
products stay in float), and so are neither the patch embedding nor the final projections:
the layers where int8 costs the most fidelity for the least time.

Calibration images come from a folder (the collection's own photos are best); without one,
generated images stand in and a warning says so. Texts are generated from templates. Each int8
tower's fidelity (cosine against fp32 on held-out inputs) is written to `int8.json` beside it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from mmsearch.encoders.base import ExportProblem
from mmsearch.encoders.calibration import (
    calibration_images,
    calibration_source,
    calibration_texts,
)
from mmsearch.encoders.exported import ExportedEncoder, row_cosines, tower_file

log = logging.getLogger(__name__)

REPORT = "int8.json"
CALIBRATION_IMAGES = 64
HELD_OUT = 16


MIN_COSINE_MEAN = 0.95  # an int8 tower further than this from fp32 is refused


def ensure_int8(
    folder: Path,
    towers: Sequence[str],
    images: Path | None,
    lock: Callable[[], AbstractContextManager[None]],
) -> None:
    """Quantise the towers of `folder` that have no int8 graph yet, or one calibrated on other
    images than `images` (under `lock`, which keeps other processes out meanwhile)."""
    source = calibration_source(images)

    def stale() -> list[str]:
        report = _read_report(folder)
        return [
            tower
            for tower in towers
            if not tower_file(folder, tower, "int8").is_file()
            or (tower == "visual" and report.get(tower, {}).get("source") != source)
        ]

    if stale():
        with lock():
            if missing := stale():
                quantize(folder, missing, images)


def quantize(folder: Path, towers: Sequence[str], images: Path | None = None) -> dict[str, Any]:
    """Write the int8 graphs of `towers` and their fidelity report; the report. ExportProblem
    when a tower comes out further from fp32 than MIN_COSINE_MEAN."""
    try:
        from onnxruntime.quantization import quant_pre_process  # noqa: F401
    except ImportError as exc:
        raise ExportProblem("making int8 graphs needs onnxruntime (mmsearch[onnx])") from exc
    text_only = "visual" not in towers
    reference = ExportedEncoder(folder, name=folder.name, runtime="onnx", text_only=text_only)
    report: dict[str, Any] = {}
    for tower in towers:
        if tower == "visual":
            pictures, described = calibration_images(images, CALIBRATION_IMAGES + HELD_OUT)
            inputs = np.stack([reference.preprocess(p) for p in pictures])
        else:
            inputs, described = reference.tokenize(calibration_texts()), "generated texts"
        split = len(inputs) - max(2, len(inputs) // 5)  # the last fifth is held out
        batches = [inputs[i : min(i + 8, split)] for i in range(0, split, 8)]
        target = tower_file(folder, tower, "int8")
        _quantize_graph(tower_file(folder, tower, "fp32"), target, tower, batches)
        report[tower] = _fidelity(folder, tower, inputs[split:])
        report[tower]["calibration"] = described
        if tower == "visual":
            report[tower]["source"] = calibration_source(images)
        log.info("int8 %s tower of %s: %s", tower, folder.name, report[tower])
        if report[tower]["cosine_mean"] < MIN_COSINE_MEAN:
            target.unlink()
            raise ExportProblem(
                f"the int8 {tower} tower of {folder.name} is too far from fp32 (cosine mean "
                f"{report[tower]['cosine_mean']}); calibrate on the collection's own photos "
                "(MMSEARCH_CALIBRATION_DIR) or use fp32"
            )
    (folder / REPORT).write_text(json.dumps({**_read_report(folder), **report}, indent=2))
    return report


def _quantize_graph(source: Path, target: Path, tower: str, batches: list[np.ndarray]) -> None:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = "image" if tower == "visual" else "text"

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches: Iterator[np.ndarray] = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {name: batch}

    staging = target.with_name(f".{target.name}.partial")
    prepared = target.with_name(f".{target.name}.prepared")
    try:
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(str(prepared))
        include, exclude = _weight_products(graph)
        if not include:  # an empty list would mean "quantise everything" to the quantiser
            raise ExportProblem(f"no weight products to quantise in the {tower} tower")
        quantize_static(
            str(prepared),
            str(staging),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=["MatMul", "Gemm"],
            nodes_to_quantize=include,
            nodes_to_exclude=exclude,
            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
        )
        os.replace(staging, target)
    finally:
        for leftover in (staging, prepared):
            leftover.unlink(missing_ok=True)
        (target.parent / "augmented_model.onnx").unlink(missing_ok=True)


def _weight_products(graph: Any) -> tuple[list[str], list[str]]:
    """Names of the MatMul/Gemm nodes with a constant operand, less the first and last ones
    (patch or token embedding side, final projection); and of the Conv nodes (excluded)."""
    constants = {init.name for init in graph.graph.initializer}
    constants |= {n.output[0] for n in graph.graph.node if n.op_type == "Constant"}
    products = [
        node.name
        for node in graph.graph.node
        if node.op_type in ("MatMul", "Gemm") and any(i in constants for i in node.input)
    ]
    convs = [node.name for node in graph.graph.node if node.op_type == "Conv"]
    keep_float = products[-1:]  # the projection into the shared space
    return [p for p in products if p not in keep_float], [*convs, *keep_float]


def _fidelity(folder: Path, tower: str, held_out: np.ndarray) -> dict[str, float]:
    from mmsearch.encoders.sessions import OrtSession

    exact = OrtSession(tower_file(folder, tower, "fp32"), "cpu").run(held_out)
    approx = OrtSession(tower_file(folder, tower, "int8"), "cpu").run(held_out)
    cosine = row_cosines(exact, approx)
    return {
        "cosine_min": round(float(cosine.min()), 5),
        "cosine_mean": round(float(cosine.mean()), 5),
    }


def _read_report(folder: Path) -> dict[str, Any]:
    try:
        report = json.loads((folder / REPORT).read_text())
    except (OSError, ValueError):
        return {}
    return report if isinstance(report, dict) else {}


def ensure_fp16(
    folder: Path, towers: Sequence[str], lock: Callable[[], AbstractContextManager[None]]
) -> None:
    """Write the fp16 graphs of `towers` that have none (for GPUs; inputs and outputs stay
    float32, LayerNorm and Softmax run in float32)."""
    missing = [t for t in towers if not tower_file(folder, t, "fp16").is_file()]
    if missing:
        with lock():
            for tower in missing:
                _half(folder, tower)


def _half(folder: Path, tower: str) -> None:
    target = tower_file(folder, tower, "fp16")
    if target.is_file():
        return
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise ExportProblem("making fp16 graphs needs onnxruntime (mmsearch[onnx])") from exc
    graph = onnx.load(str(tower_file(folder, tower, "fp32")))
    half = convert_float_to_float16(
        graph, keep_io_types=True, op_block_list=["LayerNormalization", "Softmax"]
    )
    staging = target.with_name(f".{target.name}.partial")
    onnx.save(half, str(staging))
    os.replace(staging, target)
    log.info("fp16 %s tower of %s written", tower, folder.name)
