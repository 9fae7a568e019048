"""Progress bars of the CLI: tqdm's live bar on a terminal, plain lines in a pipe or a log."""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

from tqdm import tqdm

LINE_INTERVAL_S = 10.0  # a line at least this often while something runs, without a terminal
LINE_STEP = 0.1  # and one each time this share of the total is done


class LineProgress(tqdm):
    """tqdm's counts and rates written as whole lines: one when the phase changes, at each tenth
    of the total or every 10 s, and the last line once, when the bar closes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._last: tuple[float, float, str] | None = None  # time, count, description
        # every update reaches display, which decides alone when a line is due
        super().__init__(*args, **{**kwargs, "mininterval": 0, "miniters": 1})

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg is not None:  # tqdm clearing its frame: there is no frame to clear
            return False
        if self.total and self.n >= self.total:
            return False  # complete: the line that says so is written once, by close
        now = time.monotonic()
        if self._last is not None:
            at, count, desc = self._last
            step = self.total * LINE_STEP if self.total else math.inf
            if desc == self.desc and now - at < LINE_INTERVAL_S and self.n - count < step:
                return False
        self._last = (now, self.n, self.desc)
        self._write(str(self))
        return True

    def close(self) -> None:
        written = self._last is not None and self._last[1:] == (self.n, self.desc)
        if not self.disable and not written:
            self._ema_dt = lambda: None  # the last line gives the overall rate
            self._write(str(self))
        self.leave = False  # tqdm's own close would write the last frame again
        super().close()

    def _write(self, line: str) -> None:
        self.fp.write(line + "\n")
        self.fp.flush()


def progress_bar(**kwargs: Any) -> tqdm:
    """A bar on stderr: tqdm's on a terminal, LineProgress without one."""
    stream: TextIO = kwargs.pop("file", None) or sys.stderr
    if stream.isatty():
        return tqdm(file=stream, dynamic_ncols=True, **kwargs)
    return LineProgress(file=stream, **kwargs)
