"""Progress without a terminal: whole lines, a few of them, the last one once."""

from __future__ import annotations

import io
import os
import pty

from tqdm import tqdm

from mmsearch.api.cli.progress import LineProgress, progress_bar


def test_a_pipe_gets_a_line_per_tenth_and_the_last_line_once() -> None:
    out = io.StringIO()
    with progress_bar(total=200, unit="img", desc="upload", file=out) as bar:
        assert isinstance(bar, LineProgress)
        for _ in range(200):
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 11  # the first, each tenth before the end, the last
    assert [line for line in lines if "200/200" in line] == [lines[-1]]


def test_a_new_phase_is_a_new_line_at_once_and_close_does_not_repeat_it() -> None:
    out = io.StringIO()
    bar = progress_bar(total=10, desc="queued", file=out)
    bar.set_description("embedding")
    bar.close()
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == [
        "queued",
        "embedding",
    ]


def test_a_terminal_keeps_tqdms_live_bar() -> None:
    ours, theirs = pty.openpty()
    with open(theirs, "w", encoding="utf-8") as terminal:
        bar = progress_bar(total=3, desc="upload", file=terminal)
        assert isinstance(bar, tqdm) and not isinstance(bar, LineProgress)
        bar.close()
    os.close(ours)
