"""Files a user keeps beside a clone stay out of git: secrets in `.env`, the standalone's data."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
@pytest.mark.parametrize(
    "path", [".env", "mmsearch-data/qdrant/photos--v1/segment", "photos/beach.jpg"]
)
def test_secrets_and_data_are_ignored(path: str) -> None:
    checked = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "--no-index", "-q", path], check=False
    )
    assert checked.returncode == 0, f"{path} is not ignored by .gitignore"


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_the_env_example_stays_tracked() -> None:
    checked = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "--no-index", "-q", ".env.example"], check=False
    )
    assert checked.returncode == 1
