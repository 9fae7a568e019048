"""Invalid settings stop any `mmsearch` command with exit status 2 and one line per variable,
naming it, instead of a pydantic traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "MMSEARCH_DATA_DIR": str(tmp_path / "data"), **env}
    return subprocess.run(
        [sys.executable, "-m", "mmsearch.api.cli", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("args", [["standalone"], ["collections", "list"]])
def test_invalid_variables_are_named_without_a_traceback(args: list[str], tmp_path: Path) -> None:
    done = run(args, tmp_path, MMSEARCH_PORT="eighty", MMSEARCH_BATCH_SIZE="0")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "mmsearch: invalid settings"
    assert any(line.strip().startswith("MMSEARCH_PORT:") for line in lines[1:])
    assert any(line.strip().startswith("MMSEARCH_BATCH_SIZE:") for line in lines[1:])


def test_a_rule_across_settings_is_explained(tmp_path: Path) -> None:
    done = run(["standalone"], tmp_path, MMSEARCH_DEFAULT_MODEL="ViT-B-32/file:/elsewhere/w.bin")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "MMSEARCH_WEIGHTS_DIRS" in done.stderr


@pytest.mark.parametrize(
    ("runtime", "precision", "said"),
    [
        ("torch", "int8", "int8 needs runtime onnx or openvino"),
        ("tensorrt", "fp32", "MMSEARCH_RUNTIME"),
        ("onnx", "int4", "MMSEARCH_PRECISION"),
    ],
)
def test_a_runtime_and_precision_that_do_not_go_together(
    tmp_path: Path, runtime: str, precision: str, said: str
) -> None:
    done = run(["standalone"], tmp_path, MMSEARCH_RUNTIME=runtime, MMSEARCH_PRECISION=precision)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert said in done.stderr, done.stderr
