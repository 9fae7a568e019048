"""Libraries' routine narration stays out of the log below DEBUG: the hub client's retries and
Celery's line per task received and run; at DEBUG each shows, once, in the platform's format."""

from __future__ import annotations

import re
import subprocess
import sys

# What the hub client and Celery log while a model downloads and while tasks run.
SCRIPT = """
import logging, sys
from mmsearch.infra.logs import setup_logging
setup_logging(sys.argv[1])
import mmsearch.encoders.open_clip_backend  # the hub client as a model load configures it
logging.getLogger("huggingface_hub.utils._http").warning("Retrying in 1s [Retry 1/5].")
logging.getLogger("celery.worker.strategy").info("Task mmsearch.ingest_batch[1] received")
logging.getLogger("celery.app.trace").info("Task mmsearch.ingest_batch[1] succeeded in 0.1s")
"""
NARRATION = ("Retrying in 1s", "received", "succeeded in")
PLATFORM_LINE = re.compile(r"^\S+ \S+ [A-Z]+ \S+: ")  # time, level, logger: message


def logged(level: str) -> str:
    """What a process configured at `level` writes while the libraries narrate."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, level], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_library_narration_is_quiet_at_info() -> None:
    output = logged("INFO")
    assert not [line for line in output.splitlines() if any(n in line for n in NARRATION)], output


def test_library_narration_shows_once_at_debug() -> None:
    output = logged("DEBUG")
    for narration in NARRATION:
        lines = [line for line in output.splitlines() if narration in line]
        assert len(lines) == 1, lines
        assert PLATFORM_LINE.match(lines[0]), lines[0]
