"""A collection's sources: the buckets and folders it is kept in sync with, kept in Redis.

A source names an `s3://bucket/prefix/` or a `file://` folder, which of its objects to take
(gitignore-style `include` and `exclude` patterns matched on the key below the source), what to
stamp on their items, and how often to sync. Its items get ids from their keys below the source
(after `id_prefix`), so they keep their ids from one sync to the next.

Beside each source its sync state: the job of its latest sync and when it started (a sync runs
while that job is not final, so two never run at once), and the keys bucket events named since.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import pathspec
import redis

from mmsearch.infra.errors import SourceNotFound
from mmsearch.infra.media.storage import is_media_name

SOURCES = "mmsearch:sources"  # source id → its definition (JSON)
_STATE = "mmsearch:source:"  # + id: its latest sync job and when it started
_PENDING = ":pending"  # + that: keys that bucket events named, to look at


def new_source_id() -> str:
    return "src_" + uuid.uuid4().hex[:16]


def compile_patterns(patterns: Iterable[str]) -> pathspec.PathSpec:
    """Gitignore-style patterns (ValueError for one that is not)."""
    try:
        return pathspec.GitIgnoreSpec.from_lines(list(patterns))
    except Exception as exc:  # pathspec raises its own error types for bad patterns
        raise ValueError(f"invalid pattern: {exc}") from exc


@dataclass(frozen=True)
class Source:
    """One source of a collection (see the module's docstring)."""

    id: str
    collection: str
    uri: str  # a prefix or folder reference, ending in `/`
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    interval_s: int | None = None
    captions: str | None = None  # a caption manifest: a key below the source, or a reference
    id_prefix: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # ingest options, as a job has them
    tenant: str | None = None
    created_at: float = 0.0

    @cached_property
    def _included(self) -> pathspec.PathSpec | None:
        return compile_patterns(self.include) if self.include else None

    @cached_property
    def _excluded(self) -> pathspec.PathSpec:
        return compile_patterns(self.exclude)

    def takes(self, key: str) -> bool:
        """Whether the object at `key` (below the source) is one of its media items."""
        if not key or key.endswith("/") or not is_media_name(key):
            return False
        if self._included is not None and not self._included.match_file(key):
            return False
        return not self._excluded.match_file(key)

    def item_id(self, key: str) -> str:
        """The id of the item of the object at `key`."""
        return self.id_prefix + key

    def key_of(self, uri: str) -> str | None:
        """The key below the source of an object reference (None: not below it)."""
        return uri[len(self.uri) :] if uri.startswith(self.uri) else None

    def job_options(self) -> dict[str, Any]:
        """The ingest options its sync jobs run with."""
        return {**self.options, **({"tenant": self.tenant} if self.tenant else {})}

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if not k.startswith("_")})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Source:
        data = json.loads(raw)
        data["include"], data["exclude"] = tuple(data["include"]), tuple(data["exclude"])
        return cls(**data)


@dataclass(frozen=True)
class SyncSlot:
    """A source's latest sync: its job and when it started, and when its latest full sync
    started (none yet: None)."""

    job_id: str | None = None
    started_at: float | None = None
    full_at: float | None = None


class SourceStore:
    """Sources and their sync state in Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def add(self, source: Source) -> None:
        self._redis.hset(SOURCES, source.id, source.to_json())

    def get(self, source_id: str, collection: str | None = None) -> Source:
        """A source (of `collection` when given); SourceNotFound otherwise."""
        raw = self._redis.hget(SOURCES, source_id[:100])
        source = Source.from_json(raw) if raw is not None else None
        if source is None or (collection is not None and source.collection != collection):
            raise SourceNotFound(f"source {source_id[:100]!r} not found")
        return source

    def find(self, source_id: str) -> Source | None:
        """A source, or None once it is removed."""
        try:
            return self.get(source_id)
        except SourceNotFound:
            return None

    def all(self) -> list[Source]:
        """Every source, oldest first."""
        found = [Source.from_json(raw) for raw in self._redis.hvals(SOURCES)]
        return sorted(found, key=lambda source: (source.created_at, source.id))

    def of_collection(self, collection: str) -> list[Source]:
        return [source for source in self.all() if source.collection == collection]

    def remove(self, source_id: str) -> None:
        """Forget a source and its sync state."""
        state = _STATE + source_id
        self._redis.delete(state, state + _PENDING)
        self._redis.hdel(SOURCES, source_id)

    def slot(self, source_id: str) -> SyncSlot:
        raw = self._redis.hgetall(_STATE + source_id)
        fields = {_text(k): _text(v) for k, v in raw.items()}
        started, full = fields.get("started_at"), fields.get("full_at")
        return SyncSlot(
            fields.get("job") or None,
            float(started) if started else None,
            float(full) if full else None,
        )

    def claim(
        self,
        source_id: str,
        job_id: str,
        is_running: Callable[[str, float | None], bool],
        full: bool = True,
    ) -> str | None:
        """Make `job_id` the source's sync (`full`: one of the whole source) unless
        `is_running(job, claimed_at)` says its current one runs; None when claimed, else the
        running sync's job id. Two claims at once: one wins, the other sees it running."""
        key = _STATE + source_id
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    fields = {_text(k): _text(v) for k, v in pipe.hgetall(key).items()}
                    current, at = fields.get("job"), fields.get("started_at")
                    if current and is_running(current, float(at) if at else None):
                        pipe.unwatch()
                        return current
                    pipe.multi()
                    now = repr(time.time())
                    pipe.hset(key, mapping={"job": job_id, "started_at": now})
                    if full:
                        pipe.hset(key, "full_at", now)
                    pipe.execute()
                    return None
                except redis.WatchError:
                    continue

    def release(self, source_id: str, job_id: str) -> None:
        """Give up a claim whose job could not be started."""
        key = _STATE + source_id
        if _text(self._redis.hget(key, "job") or b"") == job_id:
            self._redis.delete(key)

    def add_pending(self, source_id: str, keys: Iterable[str]) -> None:
        """Note keys that bucket events named (a set: a key named twice is looked at once)."""
        keys = list(keys)
        if keys:
            self._redis.sadd(_STATE + source_id + _PENDING, *keys)

    def take_pending(self, source_id: str, limit: int) -> list[str]:
        """Up to `limit` of the noted keys, no longer noted."""
        taken: Any = self._redis.spop(_STATE + source_id + _PENDING, limit) or []
        return sorted(_text(key) for key in taken)

    def has_pending(self, source_id: str) -> bool:
        return bool(self._redis.scard(_STATE + source_id + _PENDING))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
