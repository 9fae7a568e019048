"""The query micro-batcher and cache, over the real tiny encoder."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from mmsearch.encoders import TINY_TEST_MODEL, get_encoder
from mmsearch.encoders.text_queries import TextBatcher, TextQueryCache


class GatedEncoder:
    """The real encoder, held at the door of each forward until the test lets it through."""

    def __init__(self, inner: Any, name: str | None = None) -> None:
        self.inner, self.name = inner, name or inner.name
        self.gate = threading.Event()
        self.calls: list[list[str]] = []
        self.fail = False

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError("text tower failed")
        result: np.ndarray = self.inner.embed_texts(texts)
        return result


def _queued(batcher: TextBatcher, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(batcher._queue) < n:
        assert time.monotonic() < deadline, "queries never queued"
        time.sleep(0.005)


def _submit(
    pool: ThreadPoolExecutor, batcher: TextBatcher, encoder: Any, texts: list[str]
) -> list[Any]:
    return [pool.submit(batcher.embed, encoder, t) for t in texts]


def test_queries_that_arrive_during_a_forward_share_the_next_one() -> None:
    tiny = get_encoder(TINY_TEST_MODEL)
    encoder = GatedEncoder(tiny)
    batcher = TextBatcher(max_batch=3)
    texts = ["a dog", "a cat", "a red car", "a cat", "the sea", "a bridge"]
    with ThreadPoolExecutor(8) as pool:
        first = _submit(pool, batcher, encoder, texts[:1])
        while not encoder.calls:
            time.sleep(0.005)
        rest = _submit(pool, batcher, encoder, texts[1:])
        _queued(batcher, 5)
        encoder.gate.set()
        vectors = [f.result(10) for f in first + rest]
    # one lone forward, then the waiting five in batches of at most three (oldest first)
    assert encoder.calls == [["a dog"], ["a cat", "a red car"], ["the sea", "a bridge"]]
    assert batcher.forwards == 3 and batcher.texts == 5
    np.testing.assert_allclose(np.stack(vectors), tiny.embed_texts(texts), atol=1e-5)


def test_an_error_reaches_every_waiter_and_the_batcher_recovers() -> None:
    encoder = GatedEncoder(get_encoder(TINY_TEST_MODEL))
    encoder.fail = True
    batcher = TextBatcher(max_batch=8)
    with ThreadPoolExecutor(4) as pool:
        futures = _submit(pool, batcher, encoder, ["x"])
        while not encoder.calls:
            time.sleep(0.005)
        futures += _submit(pool, batcher, encoder, ["y", "z"])
        _queued(batcher, 2)
        encoder.gate.set()
        for future in futures:
            with pytest.raises(RuntimeError, match="text tower failed"):
                future.result(10)
    encoder.fail = False
    assert batcher.embed(encoder, "ok").shape == (encoder.inner.dim,)


def test_models_are_never_mixed_in_one_forward() -> None:
    tiny = get_encoder(TINY_TEST_MODEL)
    other = get_encoder("mmsearch-tiny/random:7")
    a, b = GatedEncoder(tiny), GatedEncoder(other)
    batcher = TextBatcher(max_batch=8)
    with ThreadPoolExecutor(6) as pool:
        first = _submit(pool, batcher, a, ["start"])
        while not a.calls:
            time.sleep(0.005)
        mixed = [pool.submit(batcher.embed, enc, t) for enc, t in [(b, "p"), (a, "q"), (b, "r")]]
        _queued(batcher, 3)
        b.gate.set()
        a.gate.set()
        results = [f.result(10) for f in first + mixed]
    assert a.calls == [["start"], ["q"]] and b.calls == [["p", "r"]]
    np.testing.assert_allclose(results[1], other.embed_texts(["p"])[0], atol=1e-5)
    np.testing.assert_allclose(results[2], tiny.embed_texts(["q"])[0], atol=1e-5)


def test_cache_hits_skip_the_batcher_and_evict_oldest() -> None:
    encoder = GatedEncoder(get_encoder(TINY_TEST_MODEL))
    encoder.gate.set()
    cache = TextQueryCache(size=2)
    for text in ["a", "b", "a", "c", "b"]:
        cache.embed(encoder, text)
    # "a" hit; "c" evicted "b" (least recently used), so "b" ran again
    assert [c[0] for c in encoder.calls] == ["a", "b", "c", "b"]
    assert (cache.hits, cache.misses) == (1, 4)
    with pytest.raises(ValueError):
        cache.embed(encoder, "a")[0] = 1.0  # shared vectors are read-only
