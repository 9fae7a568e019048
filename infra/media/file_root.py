"""Checking MMSEARCH_FILE_ROOT before a server starts."""

from __future__ import annotations

import sys

from mmsearch.infra.settings import Settings


def file_root_problem(settings: Settings) -> str | None:
    """Why MMSEARCH_FILE_ROOT cannot serve file:// references (it is set, but not to an existing
    folder), or None when it can or is unset."""
    root = settings.file_root
    if root is None or root.is_dir():
        return None
    what = "is not a folder" if root.exists() else "does not exist"
    return (
        f"MMSEARCH_FILE_ROOT={root} {what}; set it to the folder file:// references may read,"
        " or leave it unset to refuse file://"
    )


def require_file_root(settings: Settings, command: str) -> None:
    """Refuse to start a server (exit status 2, one line on stderr) when MMSEARCH_FILE_ROOT is
    set to anything but an existing folder: every file:// reference would fail otherwise."""
    problem = file_root_problem(settings)
    if problem is not None:
        sys.stderr.write(f"mmsearch {command}: {problem}\n")
        raise SystemExit(2)
