"""A server whose MMSEARCH_FILE_ROOT is not an existing folder refuses to start, in one line that
names the path, with exit status 2 (instead of failing every file:// reference later)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmsearch.infra.media.file_root import file_root_problem
from mmsearch.infra.settings import Settings


def start(command: str, tmp_path: Path, file_root: Path) -> subprocess.CompletedProcess[str]:
    """Run a server command as a process; it must exit by itself within the timeout."""
    env = {
        **os.environ,
        "MMSEARCH_FILE_ROOT": str(file_root),
        "MMSEARCH_DATA_DIR": str(tmp_path / "data"),
        "MMSEARCH_PORT": "0",
        # api and worker need a server's addresses; nothing listens there, and nothing is dialled
        "MMSEARCH_QDRANT_URL": "http://127.0.0.1:9",
        "MMSEARCH_REDIS_URL": "redis://127.0.0.1:9/0",
    }
    if command == "standalone":
        del env["MMSEARCH_QDRANT_URL"], env["MMSEARCH_REDIS_URL"]
    return subprocess.run(
        [sys.executable, "-m", "mmsearch.api.cli", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", ["standalone", "api", "worker"])
def test_a_missing_file_root_stops_the_start(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "photos"
    done = start(command, tmp_path, missing)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"mmsearch {command}: MMSEARCH_FILE_ROOT={missing} does not exist; set it to the folder"
        " file:// references may read, or leave it unset to refuse file://"
    ]
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_a_file_root_must_be_a_folder(tmp_path: Path) -> None:
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"x")
    problem = file_root_problem(Settings(data_dir=tmp_path / "data", file_root=photo))
    assert problem is not None and problem.startswith(f"MMSEARCH_FILE_ROOT={photo} is not a folder")
    assert file_root_problem(Settings(data_dir=tmp_path / "data", file_root=tmp_path)) is None
    assert file_root_problem(Settings(data_dir=tmp_path / "data", file_root=None)) is None
