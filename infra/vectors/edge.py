"""The embedded vector store: one qdrant-edge shard per collection, all under one folder.

Layout: ``path/.lock`` (held by the owning process), ``path/<name>/collection.json`` (the spec),
``path/<name>/shard/`` (the EdgeShard) and ``path/aliases.json`` (see aliases.py). A collection
is built in ``path/.tmp-*`` and renamed into place, and renamed to ``path/.trash-*`` before
removal, so a crash leaves no half collection.

Facts about qdrant-edge-py 0.9.0 this relies on (measured):

- Every binding call holds the GIL, so calls never overlap; a lock per collection still orders
  writes, index builds and close against each other.
- An update goes to the WAL (mmap) before it is applied: it survives a killed process without a
  flush, and ``flush()`` (~5 ms per 64-point batch) makes it survive power loss too.
- Nothing is indexed in the background: a segment is searched by exact scan until ``optimize()``
  builds its HNSW graph, once it is over the indexing threshold. The store calls ``optimize()``
  after every ``spec.index.indexing_threshold`` written points, so each call indexes about that
  many points.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import qdrant_edge as qe

from mmsearch.infra.errors import CollectionExists, CollectionNotFound, Conflict, Unavailable
from mmsearch.infra.vectors.aliases import EdgeAliases, load_aliases
from mmsearch.infra.vectors.base import (
    COLLECTION_NAME_RE,
    CollectionInfo,
    CollectionSpec,
    FilterJSON,
    VectorPoint,
    VectorStore,
)
from mmsearch.infra.vectors.checks import (
    canonical_id,
    check_collection_name,
    check_point,
    check_spec,
    read_point,
)
from mmsearch.infra.vectors.edge_files import (
    SHARD_DIR,
    SPEC_FILE,
    build_collection,
    fsync_dir,
    lock_folder,
    read_spec,
    search_params,
    shard_config,
)
from mmsearch.infra.vectors.edge_filters import to_edge_filter
from mmsearch.infra.vectors.edge_query import EdgeQueries

logger = logging.getLogger(__name__)


@dataclass
class _Collection:
    spec: CollectionSpec
    shard: qe.EdgeShard
    params: qe.SearchParams
    lock: threading.RLock = field(default_factory=threading.RLock)
    pending: int = 0  # points written since the last optimize()
    closed: bool = False


class EdgeVectorStore(EdgeQueries, EdgeAliases, VectorStore):
    """Collections as qdrant-edge shards under `path`; one process owns the folder at a time.

    Each collection's HNSW and quantization settings are its spec's `index` (IndexConfig); its
    `indexing_threshold` is also how many written points trigger an optimize() (which builds
    HNSW over about that many points, holding the GIL meanwhile).
    `max_segments` / `max_segment_points` bound how far segments are merged.
    `fsync`: flush after each write so it survives power loss, not only a crash.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_segments: int = 8,
        max_segment_points: int = 100_000,
        fsync: bool = True,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._max_segments = max_segments
        self._max_segment_points = max_segment_points
        self._fsync = fsync
        self._lock = threading.Lock()  # guards _collections; taken before any collection lock
        self._lockfile: IO[str] | None = lock_folder(self.path)
        self._collections: dict[str, _Collection] = {}
        self._aliases = {}
        try:
            self._load_all()
            self._aliases = load_aliases(self.path, self._collections)
        except BaseException:
            self.close()
            raise

    # -- collections ---------------------------------------------------------------------------

    def create_collection(self, spec: CollectionSpec) -> None:
        """Create; raises CollectionExists."""
        check_spec(spec)
        with self._lock:
            self._check_open()
            target = self.path / spec.name
            if spec.name in self._collections or spec.name in self._aliases or target.exists():
                raise CollectionExists(f"collection or alias {spec.name!r} already exists")
            build_collection(target, spec, self._config(spec))
            self._collections[spec.name] = self._open(spec, target)
        logger.info("created collection %s (dim=%d, model=%s)", spec.name, spec.dim, spec.model)

    def get_collection(self, name: str) -> CollectionInfo:
        """Spec plus point count; raises CollectionNotFound."""
        with self._use(name) as coll:
            return CollectionInfo(coll.spec, coll.shard.count(qe.CountRequest(exact=True)))

    def spec(self, name: str) -> CollectionSpec:
        """The spec alone; raises CollectionNotFound."""
        with self._use(name) as coll:
            return coll.spec

    def list_collections(self) -> list[CollectionInfo]:
        """All collections, sorted by name."""
        with self._lock:
            self._check_open()
            names = sorted(self._collections)
        infos = []
        for name in names:
            try:
                infos.append(self.get_collection(name))
            except CollectionNotFound:  # deleted meanwhile
                continue
        return infos

    def delete_collection(self, name: str) -> None:
        """Drop a collection and its data; raises CollectionNotFound."""
        check_collection_name(name)
        with self._lock:
            self._check_open()
            if name in self._aliases:
                raise Conflict(f"{name!r} is an alias: delete the alias, not the collection")
            if name not in self._collections:
                raise CollectionNotFound(f"collection {name!r} not found")
            self._drop_aliases_of(name)
            coll = self._collections.pop(name)
            with coll.lock:
                coll.closed = True
                coll.shard.close()
            trash = self.path / f".trash-{name}-{uuid.uuid4().hex}"
            os.rename(self.path / name, trash)
            fsync_dir(self.path)
        shutil.rmtree(trash, ignore_errors=True)
        logger.info("deleted collection %s", name)

    # -- points --------------------------------------------------------------------------------

    def upsert(self, name: str, points: Sequence[VectorPoint]) -> None:
        """Insert or overwrite points by id; durable on return."""
        with self._use(name) as coll:
            batch = [_edge_point(p, coll.spec.dim) for p in points]
            if batch:
                coll.shard.update(qe.UpdateOperation.upsert_points(batch))
                self._written(name, coll, len(batch))

    def delete_points(self, name: str, ids: Sequence[str]) -> None:
        """Remove points by id; unknown ids are ignored."""
        with self._use(name) as coll:
            wanted = _unique_ids(ids)
            if wanted:
                coll.shard.update(qe.UpdateOperation.delete_points(list(wanted)))
                self._written(name, coll, len(wanted))

    def count(self, name: str, filter: FilterJSON | None = None) -> int:
        """Exact number of points, optionally matching a filter."""
        edge_filter = to_edge_filter(filter)
        with self._use(name) as coll:
            return coll.shard.count(qe.CountRequest(exact=True, filter=edge_filter))

    def retrieve(
        self, name: str, ids: Sequence[str], with_vectors: bool = False
    ) -> list[VectorPoint]:
        """Points by id (missing ids are skipped), in the order asked."""
        wanted = _unique_ids(ids)
        with self._use(name) as coll:
            records = coll.shard.retrieve(list(wanted), True, with_vectors) if wanted else []
        found = {str(r.id): r for r in records}
        return [read_point(i, found[i].vector, found[i].payload) for i in wanted if i in found]

    def close(self) -> None:
        """Flush and close every shard and release the folder; later calls raise Unavailable."""
        with self._lock:
            for name, coll in self._collections.items():
                with coll.lock:
                    coll.closed = True
                    try:
                        coll.shard.close()
                    except Exception:
                        logger.exception("closing collection %s failed", name)
            self._collections.clear()
            if self._lockfile is not None:
                self._lockfile.close()  # releases the flock
                self._lockfile = None

    # -- internals -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._lockfile is None:
            raise Unavailable("the embedded vector store is closed")

    @contextmanager
    def _use(self, name: str) -> Iterator[_Collection]:
        check_collection_name(name)
        with self._lock:
            self._check_open()
            coll = self._collections.get(self._resolve(name))
        if coll is None:
            raise CollectionNotFound(f"collection {name!r} not found")
        with coll.lock:
            if coll.closed:  # deleted, or the store closed, while we waited
                self._check_open()
                raise CollectionNotFound(f"collection {name!r} not found")
            yield coll

    def _written(self, name: str, coll: _Collection, n: int) -> None:
        """After a write: make it durable, and index the new points once enough accumulated."""
        if self._fsync:
            coll.shard.flush()
        coll.pending += n
        if coll.pending < max(1, coll.spec.index.indexing_threshold):
            return
        coll.pending = 0
        started = time.perf_counter()
        try:
            coll.shard.optimize()
        except Exception:  # the write itself succeeded; the next chunk retries
            logger.exception("optimizing collection %s failed", name)
            return
        info = coll.shard.info()
        logger.info(
            "indexed collection %s in %.2fs: %d points, %d segments, %d indexed vectors",
            name,
            time.perf_counter() - started,
            info.points_count,
            info.segments_count,
            info.indexed_vectors_count,
        )

    def _config(self, spec: CollectionSpec) -> qe.EdgeConfig:
        return shard_config(spec.dim, spec.index, self._max_segments, self._max_segment_points)

    def _open(self, spec: CollectionSpec, folder: Path) -> _Collection:
        shard = qe.EdgeShard.load(str(folder / SHARD_DIR), self._config(spec))
        info = shard.info()
        unindexed = max(0, info.points_count - info.indexed_vectors_count)  # a lower bound
        return _Collection(spec, shard, search_params(spec.index), pending=unindexed)

    def _load_all(self) -> None:
        for entry in sorted(self.path.iterdir()):
            if entry.name.startswith((".tmp-", ".trash-")):
                shutil.rmtree(entry, ignore_errors=True)  # an interrupted create or delete
            elif entry.is_dir() and COLLECTION_NAME_RE.match(entry.name):
                if not (entry / SPEC_FILE).is_file():
                    logger.warning("ignoring %s: no %s", entry, SPEC_FILE)
                    continue
                spec = read_spec(entry)
                self._collections[entry.name] = self._open(spec, entry)
        logger.info("opened %d collection(s) in %s", len(self._collections), self.path)


def _unique_ids(ids: Sequence[str]) -> dict[str, None]:
    """Canonical ids, deduplicated, in the order given."""
    return dict.fromkeys(canonical_id(i) for i in ids)


def _edge_point(point: VectorPoint, dim: int) -> qe.Point:
    point_id, vectors = check_point(point, dim)
    return qe.Point(point_id, vectors, point.payload)  # type: ignore[arg-type]
