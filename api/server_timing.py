"""Per-request phase timings, sent back in the standard `Server-Timing` header.

A search reports `encode` (query to vector), `search` (the vector store) and `total` (the
handler), so a client or a browser's devtools can tell model time from engine time from
the API's own overhead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_CURRENT: ContextVar[dict[str, float] | None] = ContextVar("server_timing", default=None)


@contextmanager
def collect() -> Iterator[dict[str, float]]:
    """Gather the phases timed inside this block into the yielded dict (milliseconds)."""
    timings: dict[str, float] = {}
    token = _CURRENT.set(timings)
    started = time.perf_counter()
    try:
        yield timings
    finally:
        timings["total"] = (time.perf_counter() - started) * 1000
        _CURRENT.reset(token)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time one phase of the current request (adds up when a phase runs more than once)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings = _CURRENT.get()
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + (time.perf_counter() - started) * 1000


def header(timings: dict[str, float]) -> str:
    """The `Server-Timing` header value: `encode;dur=23.10, search;dur=0.21, total;dur=24.02`."""
    return ", ".join(f"{name};dur={ms:.2f}" for name, ms in timings.items())
