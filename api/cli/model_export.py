"""`mmsearch export-model`: make a model's export ahead of time (where torch is installed), for
the runtimes that run it: ONNX graphs of both towers, and their int8 form with `--precision int8`.

The export lands in MMSEARCH_EXPORT_DIR, where the platform looks first; `--out FOLDER` also
copies it there as a ready-made export (for a machine without torch: name it
`ARCH/file:FOLDER`). Prints the folder and, for int8, the fidelity of each tower.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from mmsearch.api.cli.startup import refuse_model
from mmsearch.encoders import ModelUnavailable, UnknownModel
from mmsearch.encoders.runtimes import EncoderRuntime, RuntimeUnsupported
from mmsearch.infra.settings import get_settings


def cmd_export(args: argparse.Namespace) -> int:
    s = get_settings()
    model = args.model or s.default_model
    calibration = Path(args.calibrate) if args.calibrate else s.calibration_dir
    if calibration is not None and not calibration.is_dir():
        print(f"mmsearch export-model: --calibrate {calibration}: no such folder", file=sys.stderr)
        return 2
    try:
        runtime = EncoderRuntime(args.runtime, args.precision, s.export_dir, calibration)
    except RuntimeUnsupported as exc:
        print(f"mmsearch export-model: {exc}", file=sys.stderr)
        return 2
    if args.runtime == "torch":
        print("mmsearch export-model: --runtime must be onnx or openvino", file=sys.stderr)
        return 2
    from mmsearch.encoders import get_encoder

    what = f"{model} ({args.runtime}/{args.precision})"
    print(f"mmsearch export-model: exporting {what}", file=sys.stderr)
    try:
        encoder: Any = get_encoder(
            model, device="cpu", cache_dir=s.model_cache_dir, log_failure=False, runtime=runtime
        )
    except (ModelUnavailable, UnknownModel) as exc:
        return refuse_model("export-model", model, exc, "")
    folder: Path = encoder.folder
    report: dict[str, Any] = {"model": encoder.name, "folder": str(folder)}
    fidelity = folder / "int8.json"
    if args.precision == "int8" and fidelity.is_file():
        report["int8"] = json.loads(fidelity.read_text())
    if args.out:
        out = Path(args.out)
        if out.exists() and any(out.iterdir()):
            print(f"mmsearch export-model: --out {out} is not empty", file=sys.stderr)
            return 2
        try:
            shutil.copytree(folder, out, dirs_exist_ok=True)
        except OSError as exc:
            print(f"mmsearch export-model: --out {out}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        report["copied_to"] = str(out)
    print(json.dumps(report, indent=2))
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("export-model", help="export a model to ONNX (and int8) ahead of time")
    parser.add_argument("model", nargs="?", default=None, help="(MMSEARCH_DEFAULT_MODEL)")
    parser.add_argument("--runtime", default="onnx", choices=["onnx", "openvino"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "int8"])
    parser.add_argument("--calibrate", default=None, help="folder of images for int8")
    parser.add_argument("--out", default=None, help="also copy the export to this folder")
    parser.set_defaults(func=cmd_export)
