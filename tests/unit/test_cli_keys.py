"""`mmsearch hash-key` and the refusal to serve without keys off loopback, as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mmsearch.infra.api_keys import find, parse_entry

ROOT = Path(__file__).resolve().parents[2]


def mmsearch(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mmsearch.api.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        timeout=120,
    )


def test_hash_key_prints_an_entry_that_matches_only_its_key() -> None:
    done = mmsearch("hash-key", "--scope", "read", stdin="a-long-enough-client-key\n")
    assert done.returncode == 0, done.stderr
    entry = parse_entry(done.stdout.strip())
    assert entry.scope == "read" and "a-long-enough-client-key" not in done.stdout
    assert find([entry], "a-long-enough-client-key") == entry
    assert find([entry], "a-long-enough-client-kez") is None


def test_hash_key_new_gives_a_key_and_its_entry() -> None:
    done = mmsearch("hash-key", "--new")
    assert done.returncode == 0, done.stderr
    key = done.stderr.strip().rsplit(" ", 1)[1]
    assert find([parse_entry(done.stdout.strip())], key) is not None


def test_short_keys_are_refused() -> None:
    done = mmsearch("hash-key", stdin="short\n")
    assert done.returncode != 0 and "16" in done.stderr


def test_no_serving_off_loopback_without_keys(tmp_path: Path) -> None:
    env = {"MMSEARCH_DATA_DIR": str(tmp_path), "MMSEARCH_HOST": "0.0.0.0"}
    done = mmsearch("standalone", **env)
    assert done.returncode != 0
    assert "refusing to listen on 0.0.0.0 without API keys" in done.stderr
