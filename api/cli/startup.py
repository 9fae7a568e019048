"""What the server commands and `eval` say when their model cannot be loaded: the cause and the
ways out, in one message, and exit status 2 (a setup problem, so no traceback)."""

from __future__ import annotations

import sys

from mmsearch.encoders import ModelUnavailable, UnknownModel, parse_model_name
from mmsearch.encoders.base import ExportProblem

EXIT_CANNOT_START = 2  # the setup must change before a start can succeed
DEFAULT_MODEL_SETTING = "MMSEARCH_DEFAULT_MODEL="


def refuse_model(command: str, model: str, exc: Exception, choose: str) -> int:
    """Print why `model` cannot be loaded and how to name one that can (`choose` is how the
    command is given a model: a setting or an option); the exit status."""
    lines = [f"mmsearch {command}: model {model} cannot be loaded: {exc}"]
    if isinstance(exc, ModelUnavailable) and not isinstance(exc, ExportProblem):
        lines.append(ways_out(model, choose))
    print("\n".join(lines), file=sys.stderr)
    return EXIT_CANNOT_START


def ways_out(model: str, choose: str) -> str:
    """The three ways to a model that loads, with examples of `choose` for this model."""
    try:
        ref = parse_model_name(model)
        arch = ref.arch if ref.backend == "open_clip" else "ViT-B-32"
    except UnknownModel:
        arch = "ViT-B-32"
    folders = (
        " (its folder listed in MMSEARCH_WEIGHTS_DIRS)" if choose.startswith("MMSEARCH_") else ""
    )
    return "\n".join(
        [
            "Three ways out:",
            "  - internet access: the weights are downloaded once, into MMSEARCH_MODEL_CACHE_DIR"
            " (default: the Hugging Face cache)",
            f"  - a local weights file{folders}:",
            f"      {choose}{arch}/file:/path/open_clip_model.safetensors",
            "  - random weights, for a demo only (the rankings are meaningless):",
            f"      {choose}{arch}/random",
        ]
    )
