"""Loaded models kept between requests: at most `max_models`, each dropped after `idle_ttl_s`
unused.

Dropping a model only removes the cache's reference: a caller in the middle of a forward keeps
its own, and the memory goes when the last user lets go. `on_evict` runs after each drop (the
registry uses it to hand freed GPU memory back to the device).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_MAX_MODELS = 4
SWEEP_MIN_INTERVAL_S, SWEEP_MAX_INTERVAL_S = 0.05, 60.0


@dataclass
class _Entry(Generic[V]):
    value: V
    last_used: float


class ModelCache(Generic[K, V]):
    """Values by key, least recently used first; bounded in number and in idle time.

    `name_of(key)` names a key's model for `keep`: models that idle eviction never drops
    (the size bound still applies to them). `idle_ttl_s` 0 turns idle eviction off.
    """

    def __init__(
        self,
        name_of: Callable[[K], str],
        max_models: int = DEFAULT_MAX_MODELS,
        idle_ttl_s: float = 0,
        clock: Callable[[], float] = time.monotonic,
        on_evict: Callable[[], None] | None = None,
    ) -> None:
        self._name_of = name_of
        self._on_evict = on_evict
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, _Entry[V]] = OrderedDict()
        self._loading: dict[K, threading.Lock] = {}
        self._sweeper_pid: int | None = None
        self.max_models, self.idle_ttl_s = max_models, idle_ttl_s
        self.keep: frozenset[str] = frozenset()

    def configure(self, max_models: int, idle_ttl_s: float, keep: Iterable[str] = ()) -> None:
        """Set the limits (evicting what no longer fits); cheap when nothing changes."""
        if max_models < 1 or idle_ttl_s < 0:
            raise ValueError("max_models must be at least 1 and idle_ttl_s at least 0")
        kept = frozenset(keep)
        with self._lock:
            if (max_models, idle_ttl_s, kept) != (self.max_models, self.idle_ttl_s, self.keep):
                self.max_models, self.idle_ttl_s, self.keep = max_models, idle_ttl_s, kept
                self._expire_locked()
                self._shrink_locked()
        if idle_ttl_s and self._sweeper_pid != os.getpid():  # a forked child needs its own
            self._start_sweeper()

    def get(self, *keys: K) -> V | None:
        """The value of the first of `keys` that is loaded, marked as just used; else None."""
        with self._lock:
            self._expire_locked()
            return self._touch_locked(keys)

    def get_or_load(self, key: K, load: Callable[[], V], *preferred: K) -> V:
        """A loaded value among `preferred` or `key`, else `load()` it under the key's own lock:
        one load per key at a time, while other keys and lookups go on."""
        with self._lock:
            self._expire_locked()
            value = self._touch_locked((*preferred, key))
            if value is not None:
                return value
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                value = self._touch_locked((*preferred, key))
            if value is not None:  # another thread loaded it while this one waited
                return value
            value = load()
            with self._lock:
                self._entries[key] = _Entry(value, self._clock())
                self._entries.move_to_end(key)
                self._shrink_locked()
            return value

    def values(self) -> list[V]:
        """The loaded values, least recently used first."""
        with self._lock:
            self._expire_locked()
            return [entry.value for entry in self._entries.values()]

    def __len__(self) -> int:
        """How many models are held now (idle ones not yet swept included)."""
        with self._lock:
            return len(self._entries)

    def expire(self) -> list[K]:
        """Drop the models idle for longer than the TTL now; the keys dropped."""
        with self._lock:
            return self._expire_locked()

    def clear(self) -> None:
        """Drop every loaded model."""
        with self._lock:
            self._entries.clear()

    def _touch_locked(self, keys: Iterable[K]) -> V | None:
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None:
                entry.last_used = self._clock()
                self._entries.move_to_end(key)
                return entry.value
        return None

    def _shrink_locked(self) -> None:
        while len(self._entries) > self.max_models:
            key, _ = self._entries.popitem(last=False)
            log.info("unloaded model %s (least recently used)", self._name_of(key))
            self._evicted()

    def _expire_locked(self) -> list[K]:
        if not self.idle_ttl_s:
            return []
        now, dropped = self._clock(), []
        for key, entry in list(self._entries.items()):  # least recently used first
            idle = now - entry.last_used
            if idle < self.idle_ttl_s:
                break
            if self._name_of(key) not in self.keep:
                del self._entries[key]
                dropped.append(key)
                log.info("unloaded model %s (unused for %.0f s)", self._name_of(key), idle)
        if dropped:
            self._evicted()
        return dropped

    def _evicted(self) -> None:
        if self._on_evict is not None:
            self._on_evict()

    def _start_sweeper(self) -> None:
        """Expire idle models in the background too, so a quiet process gives memory back."""
        with self._lock:
            if self._sweeper_pid == os.getpid():
                return
            self._sweeper_pid = os.getpid()
        threading.Thread(
            target=_sweep, args=(weakref.ref(self),), name="model-cache-sweeper", daemon=True
        ).start()


def _sweep(cache_ref: weakref.ref[ModelCache[Any, Any]]) -> None:
    """Expire a cache's idle models every quarter TTL (0.05 s to 60 s) while the cache exists."""
    while True:
        cache = cache_ref()
        if cache is None:
            return
        ttl = cache.idle_ttl_s or SWEEP_MAX_INTERVAL_S  # turned off: look again later
        cache.expire()
        del cache  # the sleeping thread must not keep the cache alive
        time.sleep(min(SWEEP_MAX_INTERVAL_S, max(ttl / 4, SWEEP_MIN_INTERVAL_S)))
