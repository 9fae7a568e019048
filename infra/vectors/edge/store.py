"""The embedded vector store: one qdrant-edge shard per collection, all under one folder.

Layout: ``path/.lock`` (held by the owning process), ``path/<name>/collection.json`` (the spec),
``path/<name>/shard/`` (the EdgeShard) and ``path/aliases.json`` (see aliases.py). A collection
is built in ``path/.tmp-*`` and renamed into place, and renamed to ``path/.trash-*`` before
removal, so a crash leaves no half collection.

The searches and scroll are in queries (EdgeSearches, which this store extends); the open
collections, their locks and the aliases are shared with it through EdgeCollections.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from mmsearch.infra.errors import (
    BadFilter,
    CollectionExists,
    CollectionNotFound,
    Conflict,
    NotApplicable,
)
from mmsearch.infra.vectors.arguments import check_payload, unique_ids
from mmsearch.infra.vectors.checks import check_collection_name, check_point, check_spec, read_point
from mmsearch.infra.vectors.edge.collection import EdgeCollection, EdgeCollections
from mmsearch.infra.vectors.edge.files import (
    build_collection,
    fsync_dir,
    shard_config,
    write_spec,
)
from mmsearch.infra.vectors.edge.filters import to_edge_filter
from mmsearch.infra.vectors.edge.indexing import IndexSchedule
from mmsearch.infra.vectors.edge.queries import EdgeSearches, edge_sparse
from mmsearch.infra.vectors.keywords import (
    Sparse,
    document_vector,
    keyword_vector,
    refreshed_by,
)
from mmsearch.infra.vectors.types import (
    KEYWORD_VECTOR,
    SINGLE_NODE,
    CollectionInfo,
    CollectionSpec,
    FilterJSON,
    KeywordConfig,
    VectorPoint,
)

logger = logging.getLogger(__name__)


class EdgeVectorStore(EdgeSearches):
    """Collections as qdrant-edge shards under `path`; one process owns the folder at a time.

    Each collection's HNSW and quantization settings are its spec's `index` (IndexConfig); its
    `indexing_threshold` is also how many written points trigger an optimize() (which builds
    HNSW over about that many points, holding the GIL meanwhile).
    `max_segments` / `max_segment_points` bound how far segments are merged.
    `fsync`: flush after each write so it survives power loss, not only a crash.
    `schedule`: when index builds run relative to queries (indexing.py); the default waits for
    a 1 s pause in searches, 2 minutes at most.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_segments: int = 8,
        max_segment_points: int = 100_000,
        fsync: bool = True,
        schedule: IndexSchedule | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._max_segments = max_segments
        self._max_segment_points = max_segment_points
        schedule = schedule or IndexSchedule()
        super().__init__(EdgeCollections(self.path, self._config, fsync, schedule))

    # -- collections and aliases ---------------------------------------------------------------

    def create_collection(self, spec: CollectionSpec) -> None:
        """Create; raises CollectionExists, and NotApplicable for cluster settings."""
        check_spec(spec)
        if spec.cluster != SINGLE_NODE:
            raise NotApplicable(
                "cluster settings (shards, replicas, write consistency) need a Qdrant server; "
                "the embedded engine keeps one copy on one machine",
                details={"cluster": asdict(spec.cluster)},
            )
        colls = self._collections
        with colls.locked():
            target = self.path / spec.name
            if spec.name in colls.by_name or spec.name in colls.aliases or target.exists():
                raise CollectionExists(f"collection or alias {spec.name!r} already exists")
            build_collection(target, spec, self._config(spec))
            colls.open(spec, target)
        logger.info("created collection %s (dim=%d, model=%s)", spec.name, spec.dim, spec.model)

    def get_collection(self, name: str) -> CollectionInfo:
        """Spec plus point count; raises CollectionNotFound."""
        with self._collections.use(name) as coll:
            return CollectionInfo(coll.spec, coll.shard.count(qe.CountRequest(exact=True)))

    def spec(self, name: str) -> CollectionSpec:
        """The spec alone; raises CollectionNotFound."""
        with self._collections.use(name) as coll:
            return coll.spec

    def _collection_names(self) -> list[str]:
        with self._collections.locked():
            return sorted(self._collections.by_name)

    def delete_collection(self, name: str) -> None:
        """Drop a collection and its data; raises CollectionNotFound."""
        check_collection_name(name)
        colls = self._collections
        with colls.locked():
            if name in colls.aliases:
                raise Conflict(f"{name!r} is an alias: delete the alias, not the collection")
            if name not in colls.by_name:
                raise CollectionNotFound(f"collection {name!r} not found")
            colls.aliases.drop_targets(name)
            colls.by_name.pop(name).close()
            trash = self.path / f".trash-{name}-{uuid.uuid4().hex}"
            os.rename(self.path / name, trash)
            fsync_dir(self.path)
        shutil.rmtree(trash, ignore_errors=True)
        logger.info("deleted collection %s", name)

    def set_alias(self, alias: str, collection: str) -> None:
        """Create `alias`, or atomically re-point it; Conflict if a collection has that name."""
        check_collection_name(alias)
        check_collection_name(collection)
        colls = self._collections
        with colls.locked():
            if alias in colls.by_name:
                raise Conflict(f"{alias!r} is a collection, it cannot be an alias")
            target = colls.aliases.resolve(collection)
            if target not in colls.by_name:
                raise CollectionNotFound(f"collection {collection!r} not found")
            colls.aliases.set(alias, target)
        logger.info("alias %s → collection %s", alias, target)

    def delete_alias(self, alias: str) -> None:
        """Remove an alias; raises CollectionNotFound if there is none by that name."""
        check_collection_name(alias)
        with self._collections.locked():
            if alias not in self._collections.aliases:
                raise CollectionNotFound(f"alias {alias!r} not found", details={"alias": alias})
            self._collections.aliases.delete(alias)
        logger.info("deleted alias %s", alias)

    def list_aliases(self) -> dict[str, str]:
        """Every alias and the collection it points at, sorted by alias."""
        with self._collections.locked():
            return self._collections.aliases.as_dict()

    def close(self) -> None:
        """Flush and close every shard and release the folder; later calls raise Unavailable."""
        self._collections.close()

    # -- points --------------------------------------------------------------------------------

    def upsert(self, name: str, points: Sequence[VectorPoint]) -> None:
        """Insert or overwrite points by id; durable on return."""
        with self._collections.use(name) as coll:
            batch = [_edge_point(p, coll.spec) for p in points]
            if batch:
                coll.shard.update(qe.UpdateOperation.upsert_points(batch))
                coll.written(len(batch))

    def delete_points(self, name: str, ids: Sequence[str]) -> None:
        """Remove points by id; unknown ids are ignored."""
        with self._collections.use(name) as coll:
            wanted = unique_ids(ids)
            if wanted:
                coll.shard.update(qe.UpdateOperation.delete_points(list(wanted)))
                coll.written(len(wanted))

    def count(self, name: str, filter: FilterJSON | None = None) -> int:
        """Exact number of points, optionally matching a filter."""
        edge_filter = to_edge_filter(filter)
        with self._collections.use(name) as coll:
            return coll.shard.count(qe.CountRequest(exact=True, filter=edge_filter))

    def retrieve(
        self, name: str, ids: Sequence[str], with_vectors: bool = False
    ) -> list[VectorPoint]:
        """Points by id (missing ids are skipped), in the order asked."""
        wanted = unique_ids(ids)
        with self._collections.use(name) as coll:
            records = coll.shard.retrieve(list(wanted), True, with_vectors) if wanted else []
        found = {str(r.id): r for r in records}
        return [read_point(i, found[i].vector, found[i].payload) for i in wanted if i in found]

    def set_payload(self, name: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Set (overwrite) the given top-level payload keys on points; unknown ids are ignored."""
        check_payload(payload)
        wanted = unique_ids(ids)
        with self._collections.use(name) as coll:
            if wanted and payload:
                # by filter: the engine skips ids it does not hold (by id it fails on them)
                only = qe.Filter(must=[qe.HasIdCondition(set(wanted))])
                coll.shard.update(qe.UpdateOperation.set_payload_by_filter(only, payload))
                # a point moves out of its indexed segment: it counts towards the next optimize()
                coll.written(len(wanted))
                config = coll.spec.keyword
                if config is not None and refreshed_by(config, payload):
                    # under the same lock: a concurrent edit cannot leave another's vector
                    records = coll.shard.retrieve(list(wanted), True, False)
                    found = {str(r.id): document_vector(config, r.payload or {}) for r in records}
                    _write_keywords(coll, found)

    def delete_by_filter(self, name: str, filter: FilterJSON) -> int:
        """Delete the points matching `filter`; return how many were deleted."""
        edge_filter = to_edge_filter(filter)
        if edge_filter is None:
            raise BadFilter("delete_by_filter needs a filter ({} matches every point)")
        with self._collections.use(name) as coll:  # count and delete under the collection lock
            count = coll.shard.count(qe.CountRequest(exact=True, filter=edge_filter))
            if count:
                coll.shard.update(qe.UpdateOperation.delete_points_by_filter(edge_filter))
                coll.written(count)
            return count

    def _config(self, spec: CollectionSpec) -> qe.EdgeConfig:
        return shard_config(spec, self._max_segments, self._max_segment_points)

    # -- the keyword vector (keyword_store) ----------------------------------------------------

    def _set_keyword(self, name: str, config: KeywordConfig) -> None:
        with self._collections.use(name) as coll:
            if coll.spec.keyword is None:
                sparse = qe.UpdateOperation.create_sparse_vector(KEYWORD_VECTOR, qe.Modifier.Idf)
                coll.shard.update(sparse)
                coll.shard.flush()
            spec = replace(coll.spec, keyword=config)
            write_spec(self.path / spec.name, spec)
            coll.spec = spec

    def _set_keywords(self, name: str, vectors: dict[str, Sparse]) -> None:
        with self._collections.use(name) as coll:
            # only points still there: by id alone the engine fails on the ones that are gone
            held = {str(r.id) for r in coll.shard.retrieve(list(vectors), False, False)}
            _write_keywords(coll, {i: v for i, v in vectors.items() if i in held})


def _write_keywords(coll: EdgeCollection, vectors: dict[str, Sparse]) -> None:
    """Set the keyword vectors of points the collection holds; call under its lock."""
    updates = [qe.PointVectors(i, {KEYWORD_VECTOR: edge_sparse(v)}) for i, v in vectors.items()]
    if updates:
        coll.shard.update(qe.UpdateOperation.update_vectors(updates))
        coll.written(len(updates))


def _edge_point(point: VectorPoint, spec: CollectionSpec) -> qe.Point:
    point_id, vectors = check_point(point, spec.dim)
    named: dict[str, Any] = dict(vectors)
    words = keyword_vector(spec, point.payload)
    if words is not None:
        named[KEYWORD_VECTOR] = edge_sparse(words)
    return qe.Point(point_id, named, point.payload)
