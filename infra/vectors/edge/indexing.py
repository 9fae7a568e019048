"""When the embedded engine builds its index: in a pause between queries, never in the middle of
a busy minute unless the backlog has waited too long.

qdrant-edge builds a segment's HNSW graph inside ``optimize()``, which holds the process's GIL
for its whole run (about 2 s per 10,000 points here), so any query in flight waits for it. A
collection that has gathered `indexing_threshold` new points is indexed at once when no query
ran in the last `quiet_s`; otherwise it waits for such a pause, found by a background thread,
or until its backlog has waited `max_defer_s`. Meanwhile the new points are searched exactly,
which costs little next to a stall for backlogs of this size.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

logger = logging.getLogger(__name__)

CHECK_EVERY_S = 0.25  # how often the background thread looks for a pause


@dataclass
class IndexSchedule:
    """The pause an index build waits for (`quiet_s` without a query) and the longest a
    backlog waits for one (`max_defer_s`); 0 / 0 builds at once, as points arrive."""

    quiet_s: float = 1.0
    max_defer_s: float = 120.0
    last_query: float = -math.inf
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def queried(self) -> None:
        """A query runs now."""
        with self._lock:
            self.last_query = time.monotonic()

    def due(self, waiting_since: float | None) -> bool:
        """Whether a backlog waiting since then may be indexed now."""
        now = time.monotonic()
        if now - self.last_query >= self.quiet_s:
            return True
        return waiting_since is not None and now - waiting_since >= self.max_defer_s


class Deferred(Protocol):
    """A collection whose index build may be waiting."""

    def index_if_due(self) -> None: ...


class Indexer:
    """The background thread that builds the waiting indexes once a pause comes (or their
    backlog is overdue); `collections` lists the open collections each time it looks."""

    def __init__(self, collections: Callable[[], Iterable[Deferred]]) -> None:
        self._collections = collections
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edge-indexer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(CHECK_EVERY_S):
            for collection in self._collections():
                try:
                    collection.index_if_due()
                except Exception:  # a collection closed meanwhile, or a failed build: next time
                    logger.exception("background index build failed")

    def stop(self) -> None:
        """Stop looking (a build in progress finishes first)."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=60)
