"""Prometheus metrics of the API process, and the text-query embedding cache they watch."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from encoders import Encoder

SEARCH_SECONDS = Histogram(
    "mmsearch_search_seconds",
    "Server time of a search request",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
QUERY_CACHE = Counter("mmsearch_query_cache_total", "Text-query embedding lookups", ["result"])


class TextQueryCache:
    """LRU of text-query embeddings per model: a repeated query skips the text tower."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def embed(self, encoder: Encoder, text: str) -> np.ndarray:
        """The unit vector of `text`, from the cache when it was asked before."""
        key = (encoder.name, text)
        with self._lock:
            vector = self._entries.get(key)
            if vector is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                QUERY_CACHE.labels("hit").inc()
                return vector
        vector = encoder.embed_texts([text])[0]
        vector.setflags(write=False)  # shared between requests
        with self._lock:
            self.misses += 1
            QUERY_CACHE.labels("miss").inc()
            if self._size > 0:
                self._entries[key] = vector
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
        return vector

    @property
    def hit_ratio(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus exposition of this process's metrics."""
    return generate_latest(), CONTENT_TYPE_LATEST
