"""Text-query embeddings: an LRU cache in front of a micro-batcher.

Concurrent text queries are coalesced into one forward call: while the text tower runs, queries
that arrive wait, and the next forward takes all of them (up to a batch cap). A lone query never
waits for company, so single-client latency is unchanged; under load one batched forward costs
far less than the same texts one by one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from prometheus_client import Counter, Histogram

from mmsearch.encoders.base import Encoder

QUERY_CACHE = Counter("mmsearch_query_cache_total", "Text-query embedding lookups", ["result"])
QUERY_BATCH = Histogram(
    "mmsearch_query_batch_texts",
    "Distinct texts per text-tower forward of the query micro-batcher",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)


class _Slot:
    __slots__ = ("encoder", "error", "text", "vector")

    def __init__(self, encoder: Encoder, text: str) -> None:
        self.encoder, self.text = encoder, text
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.vector is not None or self.error is not None


class TextBatcher:
    """One text-tower forward at a time, each over every query waiting for the same model."""

    def __init__(self, max_batch: int) -> None:
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: list[_Slot] = []
        self._busy = False
        self.forwards = 0
        self.texts = 0

    def embed(self, encoder: Encoder, text: str) -> np.ndarray:
        """The unit vector of `text`, computed in whichever batch picks it up."""
        slot = _Slot(encoder, text)
        with self._cond:
            self._queue.append(slot)
            while not slot.done:
                if self._busy:
                    self._cond.wait()
                    continue
                batch = self._take()
                self._busy = True
                self._cond.release()
                try:
                    self._run(batch)
                finally:
                    self._cond.acquire()
                    self._busy = False
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        assert slot.vector is not None
        return slot.vector

    def _take(self) -> list[_Slot]:
        """The oldest waiting queries that share the oldest one's model (under the lock)."""
        encoder = self._queue[0].encoder
        batch = [s for s in self._queue if s.encoder is encoder][: self._max_batch]
        taken = {id(s) for s in batch}
        self._queue = [s for s in self._queue if id(s) not in taken]
        return batch

    def _run(self, batch: list[_Slot]) -> None:
        texts = list(dict.fromkeys(slot.text for slot in batch))  # a repeated text runs once
        try:
            vectors = batch[0].encoder.embed_texts(texts)
        except BaseException as exc:  # every waiter gets the error, none hangs
            for slot in batch:
                slot.error = exc
            return
        vectors.setflags(write=False)  # rows are shared between requests and the cache
        rows = {text: vectors[i] for i, text in enumerate(texts)}
        for slot in batch:
            slot.vector = rows[slot.text]
        QUERY_BATCH.observe(len(texts))
        self.forwards += 1
        self.texts += len(texts)


class TextQueryCache:
    """LRU of text-query embeddings per model: a repeated query skips the text tower."""

    def __init__(self, size: int, max_batch: int = 32) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.batcher = TextBatcher(max_batch)
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
        vector = self.batcher.embed(encoder, text)
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
