"""The open collections of the embedded store, one qdrant-edge shard each, and their locks.

Facts about qdrant-edge-py 0.9.0 this relies on (measured):

- Every binding call holds the GIL, so calls never overlap; a lock per collection still orders
  writes, index builds and close against each other.
- An update goes to the WAL (mmap) before it is applied: it survives a killed process without a
  flush, and ``flush()`` (~5 ms per 64-point batch) makes it survive power loss too.
- Nothing is indexed in the background: a segment is searched by exact scan until ``optimize()``
  builds its HNSW graph, once it is over the indexing threshold. A collection calls
  ``optimize()`` once ``spec.index.indexing_threshold`` points were written since the last call,
  when its IndexSchedule allows (indexing.py), so each call indexes about that many points.
- The folders of segments an optimize() merged away, and the WAL's acknowledged part, are
  deleted only on ``flush()``: without one after each optimize() they pile up (a store that does
  not flush every write: 1,341 MiB for 100,000 512-d points instead of 565, bench/recall.py).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import qdrant_edge as qe

from mmsearch.infra.errors import CollectionNotFound, Unavailable
from mmsearch.infra.vectors.checks import check_collection_name
from mmsearch.infra.vectors.edge.aliases import Aliases
from mmsearch.infra.vectors.edge.files import (
    SHARD_DIR,
    SPEC_FILE,
    lock_folder,
    read_spec,
    search_params,
)
from mmsearch.infra.vectors.edge.indexing import Indexer, IndexSchedule
from mmsearch.infra.vectors.types import COLLECTION_NAME_RE, CollectionSpec, Hit

logger = logging.getLogger(__name__)


@dataclass
class EdgeCollection:
    """An open collection: its spec, shard and search params, and the lock that orders writes,
    index builds and close against each other."""

    spec: CollectionSpec
    shard: qe.EdgeShard
    params: qe.SearchParams
    fsync: bool = True  # flush after each write, so it survives power loss, not only a crash
    lock: threading.RLock = field(default_factory=threading.RLock)
    pending: int = 0  # points written since the last optimize()
    closed: bool = False
    schedule: IndexSchedule = field(default_factory=IndexSchedule)  # the store's, shared
    waiting_since: float | None = None  # since when a backlog waits for a pause in queries

    def written(self, n: int) -> None:
        """After a write of `n` points: make it durable, and index once enough accumulated
        (at once, or when the schedule allows: see indexing.py)."""
        if self.fsync:
            self.shard.flush()
        self.pending += n
        if self.pending < max(1, self.spec.index.indexing_threshold):
            return
        if self.schedule.due(self.waiting_since):
            self._optimize()
        elif self.waiting_since is None:
            self.waiting_since = time.monotonic()

    def index_if_due(self) -> None:
        """Build the index of a waiting backlog if the schedule allows it now."""
        with self.lock:
            backlog = self.pending >= max(1, self.spec.index.indexing_threshold)
            if not self.closed and backlog and self.schedule.due(self.waiting_since):
                self._optimize()

    def _optimize(self) -> None:
        self.pending, self.waiting_since = 0, None
        started = time.perf_counter()
        try:
            self.shard.optimize()
            # the engine deletes merged-away segments and truncates its WAL only on a flush
            self.shard.flush()
        except Exception:  # the write itself succeeded; the next chunk retries
            logger.exception("optimizing collection %s failed", self.spec.name)
            return
        info = self.shard.info()
        logger.info(
            "indexed collection %s in %.2fs: %d points, %d segments, %d indexed vectors",
            self.spec.name,
            time.perf_counter() - started,
            info.points_count,
            info.segments_count,
            info.indexed_vectors_count,
        )

    def close(self) -> None:
        """Close the shard once no call uses it; later callers find the collection gone."""
        with self.lock:
            self.closed = True
            self.shard.close()


class EdgeCollections:
    """The open collections of a store folder, and its aliases; one process holds the folder.

    `lock` guards `by_name` and `aliases`, and is taken before any collection's own lock.
    `config(spec)` is the shard config a collection is opened with.
    """

    def __init__(
        self,
        path: Path,
        config: Callable[[CollectionSpec], qe.EdgeConfig],
        fsync: bool,
        schedule: IndexSchedule,
    ) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.by_name: dict[str, EdgeCollection] = {}
        self.schedule = schedule
        self._config = config
        self._fsync = fsync
        self._lockfile: IO[str] | None = lock_folder(path)
        self._indexer: Indexer | None = None
        try:
            self._open_all()
            self.aliases = Aliases(path, self.by_name)
        except BaseException:
            self.close()
            raise
        self._indexer = Indexer(self._open_collections)

    def _open_collections(self) -> list[EdgeCollection]:
        with self.lock:
            return list(self.by_name.values())

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold `lock`; raise Unavailable if the store is closed."""
        with self.lock:
            self.check_open()
            yield

    def check_open(self) -> None:
        """Raise Unavailable if the store is closed."""
        if self._lockfile is None:
            raise Unavailable("the embedded vector store is closed")

    @contextmanager
    def use(self, name: str) -> Iterator[EdgeCollection]:
        """The collection that `name` (or the alias `name`) stands for, under its lock."""
        check_collection_name(name)
        with self.locked():
            coll = self.by_name.get(self.aliases.resolve(name))
        if coll is None:
            raise CollectionNotFound(f"collection {name!r} not found")
        with coll.lock:
            if coll.closed:  # deleted, or the store closed, while we waited
                self.check_open()
                raise CollectionNotFound(f"collection {name!r} not found")
            yield coll

    @contextmanager
    def query(self, name: str) -> Iterator[EdgeCollection]:
        """As use(), for a search: index builds wait for a pause in these."""
        self.schedule.queried()
        with self.use(name) as coll:
            yield coll

    def open(self, spec: CollectionSpec, folder: Path) -> None:
        """Open the collection stored in `folder` as `spec.name`; call under `lock`."""
        shard = qe.EdgeShard.load(str(folder / SHARD_DIR), self._config(spec))
        info = shard.info()
        unindexed = max(0, info.points_count - info.indexed_vectors_count)  # a lower bound
        if info.points_count > shard.count(qe.CountRequest(exact=True)):
            # copies of points in segments a merge left behind (it died before a flush): they
            # are served as segments until the next optimize(), which the next write runs
            unindexed = max(unindexed, spec.index.indexing_threshold)
        params = search_params(spec.index)
        self.by_name[spec.name] = EdgeCollection(
            spec, shard, params, self._fsync, pending=unindexed, schedule=self.schedule
        )

    def close(self) -> None:
        """Flush and close every shard and release the folder; later calls raise Unavailable."""
        if self._indexer is not None:
            self._indexer.stop()
        with self.lock:
            for name, coll in self.by_name.items():
                try:
                    coll.close()
                except Exception:
                    logger.exception("closing collection %s failed", name)
            self.by_name.clear()
            if self._lockfile is not None:
                self._lockfile.close()  # releases the flock
                self._lockfile = None

    def _open_all(self) -> None:
        for entry in sorted(self.path.iterdir()):
            if entry.name.startswith((".tmp-", ".trash-")):
                shutil.rmtree(entry, ignore_errors=True)  # an interrupted create or delete
            elif entry.is_dir() and COLLECTION_NAME_RE.match(entry.name):
                if not (entry / SPEC_FILE).is_file():
                    logger.warning("ignoring %s: no %s", entry, SPEC_FILE)
                    continue
                self._open_or_explain(entry)
        logger.info("opened %d collection(s) in %s", len(self.by_name), self.path)

    def _open_or_explain(self, folder: Path) -> None:
        """Open the collection in `folder`; one that cannot be opened stops the store with the
        reason and the way to recover, rather than leaving it half open."""
        try:
            self.open(read_spec(folder), folder)
        except Exception as exc:
            message = (
                f"the embedded vector store cannot open collection {folder.name!r} ({exc}). "
                f"To start without it, stop every process using {self.path} and move {folder} "
                "out of it (or restore it from a backup); its items must then be ingested again"
            )
            logger.error("%s", message)
            raise Unavailable(message, code="collection_unreadable") from exc


def edge_hits(found: Sequence[qe.ScoredPoint]) -> list[Hit]:
    """Hits from the engine's scored points (ids as canonical uuid strings)."""
    return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in found]
