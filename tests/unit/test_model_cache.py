"""The bounded model cache: LRU past its size, idle eviction, one load per model at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mmsearch.encoders import (
    TINY_TEST_MODEL,
    Encoder,
    configure_cache,
    get_encoder,
    loaded_encoders,
    parse_model_name,
)
from mmsearch.encoders.cache import DEFAULT_MAX_MODELS, ModelCache
from mmsearch.encoders.open_clip_backend import OpenClipEncoder

Cache = ModelCache[str, Encoder]


class Clock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Loads:
    """A loader of real tiny encoders that counts how often each model was loaded."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}
        self._lock = threading.Lock()

    def of(self, name: str, gate: threading.Event | None = None) -> Callable[[], Encoder]:
        def load() -> Encoder:
            with self._lock:
                self.count[name] = self.count.get(name, 0) + 1
            if gate is not None:
                assert gate.wait(30)
            return OpenClipEncoder(parse_model_name(name))

        return load


def names(cache: Cache) -> list[str]:
    return [encoder.name for encoder in cache.values()]


def seeded(n: int) -> str:
    return f"mmsearch-tiny/random:{n}"


def test_least_recently_used_goes_past_the_size_and_reloads_on_next_use() -> None:
    cache, loads = Cache(name_of=str, max_models=2), Loads()
    first = cache.get_or_load(seeded(1), loads.of(seeded(1)))
    cache.get_or_load(seeded(2), loads.of(seeded(2)))
    assert cache.get_or_load(seeded(1), loads.of(seeded(1))) is first  # 1 is now the newest
    cache.get_or_load(seeded(3), loads.of(seeded(3)))
    assert names(cache) == [seeded(1), seeded(3)]  # 2 was the least recently used
    assert cache.get(seeded(2)) is None

    again = cache.get_or_load(seeded(2), loads.of(seeded(2)))
    assert loads.count == {seeded(1): 1, seeded(2): 2, seeded(3): 1}
    assert names(cache) == [seeded(3), seeded(2)]
    texts = ["a dog", "a cat"]
    fresh = OpenClipEncoder(parse_model_name(seeded(2)))
    np.testing.assert_allclose(again.embed_texts(texts), fresh.embed_texts(texts), atol=1e-6)


def test_idle_models_are_dropped_except_the_kept_ones() -> None:
    clock, loads = Clock(), Loads()
    cache = Cache(name_of=str, max_models=4, clock=clock)
    cache.configure(max_models=4, idle_ttl_s=600, keep=[seeded(1)])
    for n in (1, 2, 3):
        cache.get_or_load(seeded(n), loads.of(seeded(n)))
        clock.now += 100
    assert cache.get(seeded(2)) is not None  # used at t+300: idle from there
    clock.now += 550  # 3 was last used 650 s ago, 2 only 550 s ago, 1 (kept) 850 s ago
    assert names(cache) == [seeded(1), seeded(2)]
    clock.now += 50
    assert cache.expire() == [seeded(2)]
    assert names(cache) == [seeded(1)]
    cache.get_or_load(seeded(3), loads.of(seeded(3)))
    assert loads.count[seeded(3)] == 2


def test_the_sweeper_drops_idle_models_without_any_access() -> None:
    cache = Cache(name_of=str)
    cache.configure(max_models=2, idle_ttl_s=0.2)
    encoder = cache.get_or_load(TINY_TEST_MODEL, Loads().of(TINY_TEST_MODEL))
    deadline = time.monotonic() + 10
    while len(cache) and time.monotonic() < deadline:  # looks without expiring anything
        time.sleep(0.05)
    assert len(cache) == 0
    assert encoder.embed_texts(["still usable"]).shape == (1, encoder.dim)  # the caller's ref


def test_shrinking_the_size_evicts_at_once() -> None:
    cache, loads = Cache(name_of=str, max_models=3), Loads()
    for n in (1, 2, 3):
        cache.get_or_load(seeded(n), loads.of(seeded(n)))
    cache.configure(max_models=1, idle_ttl_s=0)
    assert names(cache) == [seeded(3)]
    with pytest.raises(ValueError):
        cache.configure(max_models=0, idle_ttl_s=0)


def test_concurrent_first_loads_load_once_without_blocking_other_models() -> None:
    cache, loads, gate = Cache(name_of=str), Loads(), threading.Event()
    with ThreadPoolExecutor(max_workers=8) as pool:
        waiting = [
            pool.submit(cache.get_or_load, seeded(4), loads.of(seeded(4), gate)) for _ in range(6)
        ]
        deadline = time.monotonic() + 10
        while seeded(4) not in loads.count and time.monotonic() < deadline:
            time.sleep(0.01)
        other = cache.get_or_load(seeded(5), loads.of(seeded(5)))  # while 4 is still loading
        assert other.name == seeded(5) and not any(f.done() for f in waiting)
        gate.set()
        results = [f.result(timeout=30) for f in waiting]
    assert loads.count == {seeded(4): 1, seeded(5): 1}
    assert all(result is results[0] for result in results)


def test_a_failed_load_caches_nothing() -> None:
    cache = Cache(name_of=str)

    def broken() -> Encoder:
        raise OSError("weights unreachable")

    with pytest.raises(OSError):
        cache.get_or_load("x/y", broken)
    assert cache.values() == []


@pytest.fixture()
def small_registry() -> Iterator[None]:
    configure_cache(max_models=2, idle_ttl_s=0)
    yield
    configure_cache(max_models=DEFAULT_MAX_MODELS, idle_ttl_s=0)


def test_the_registry_is_bounded_and_keeps_text_only_loads_apart(small_registry: None) -> None:
    text_only = get_encoder(seeded(31), text_only=True)
    full = get_encoder(seeded(31))
    assert full is not text_only and get_encoder(seeded(31), text_only=True) is full
    loaded = loaded_encoders()
    assert loaded[-1] is full and any(e is text_only for e in loaded)
    get_encoder(seeded(32))
    assert [e.name for e in loaded_encoders()] == [seeded(31), seeded(32)]
    assert all(e is not text_only for e in loaded_encoders())  # least recently used: gone


def test_each_eviction_runs_the_release_hook() -> None:
    clock, released = Clock(), []
    cache: ModelCache[str, str] = ModelCache(
        name_of=str, max_models=2, idle_ttl_s=60, clock=clock, on_evict=lambda: released.append(1)
    )
    for key in ("a", "b", "c"):  # the third pushes out the least recently used
        cache.get_or_load(key, lambda key=key: key.upper())
    assert len(released) == 1 and cache.get("a") is None
    clock.now += 61
    assert sorted(cache.expire()) == ["b", "c"] and len(released) == 2  # once per sweep
    assert cache.get_or_load("a", lambda: "A") == "A" and len(released) == 2
