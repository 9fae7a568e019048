"""The vector store over qdrant-client: a Qdrant server in production, ``:memory:`` in tests.

Aliases are Qdrant's own and specs live in each collection's metadata: ServerCollections
(collection) resolves names, caches specs and translates errors, for this store and for the
searches and scroll it inherits from ServerSearches (queries).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from qdrant_client import QdrantClient, models

from mmsearch.infra.errors import (
    BadFilter,
    CollectionExists,
    CollectionNotFound,
    Conflict,
    InvalidRequest,
)
from mmsearch.infra.vectors.arguments import check_payload, unique_ids
from mmsearch.infra.vectors.checks import (
    check_collection_name,
    check_point,
    check_spec,
    read_point,
    spec_to_json,
)
from mmsearch.infra.vectors.filters import parse_filter
from mmsearch.infra.vectors.keywords import Sparse, keyword_vector, refreshed_by
from mmsearch.infra.vectors.qdrant.collection import METADATA_KEY, ServerCollections
from mmsearch.infra.vectors.qdrant.index import field_schema, index_config, optimizers_config
from mmsearch.infra.vectors.qdrant.queries import ServerSearches, server_sparse
from mmsearch.infra.vectors.types import (
    KEYWORD_VECTOR,
    VECTOR_NAMES,
    CollectionInfo,
    CollectionSpec,
    FilterJSON,
    KeywordConfig,
    VectorPoint,
)

logger = logging.getLogger(__name__)

UPSERT_BATCH = 256


class QdrantServerStore(ServerSearches):
    """The VectorStore contract over a QdrantClient (server URL, or local mode for tests)."""

    def __init__(self, client: QdrantClient) -> None:
        self.client = client
        super().__init__(ServerCollections(client))

    # -- collections and aliases ---------------------------------------------------------------

    def create_collection(self, spec: CollectionSpec) -> None:
        """Create; raises CollectionExists."""
        check_spec(spec)
        if spec.name in self._server.aliases():
            raise CollectionExists(f"{spec.name!r} already exists as an alias")
        with self._server.errors(spec.name):
            if self.client.collection_exists(spec.name):
                raise CollectionExists(f"collection {spec.name!r} already exists")
            params = models.VectorParams(size=spec.dim, distance=models.Distance.COSINE)
            self.client.create_collection(
                spec.name,
                vectors_config=dict.fromkeys(VECTOR_NAMES, params),
                sparse_vectors_config={KEYWORD_VECTOR: KEYWORD_PARAMS} if spec.keyword else None,
                metadata={METADATA_KEY: spec_to_json(spec)},
                **index_config(spec),
            )
            with warnings.catch_warnings():  # local mode warns that indexes have no effect
                warnings.filterwarnings("ignore", message="Payload indexes have no effect")
                for key, kind in spec.payload_schema.items():
                    self.client.create_payload_index(
                        spec.name, key, field_schema=field_schema(key, kind), wait=True
                    )
        logger.info("created collection %s (dim=%d, model=%s)", spec.name, spec.dim, spec.model)

    def defer_indexing(self, name: str, deferred: bool = True) -> None:
        """Build no HNSW graph while `deferred` (a bulk load), else go back to the spec's
        indexing threshold, when the server indexes what was loaded."""
        spec = self._server.spec(name)
        with self._server.errors(name):
            optimizers = optimizers_config(spec, deferred=deferred)
            self.client.update_collection(spec.name, optimizers_config=optimizers)
        logger.info("indexing of collection %s %s", spec.name, "deferred" if deferred else "on")

    def get_collection(self, name: str) -> CollectionInfo:
        """Spec plus point count; raises CollectionNotFound."""
        spec = self._server.spec(name, cached=False)
        with self._server.errors(name):
            return CollectionInfo(spec, self.client.count(spec.name, exact=True).count)

    def spec(self, name: str) -> CollectionSpec:
        """The spec alone (cached per process); raises CollectionNotFound."""
        return self._server.spec(name)

    def _collection_names(self) -> list[str]:
        return self._server.names()

    def delete_collection(self, name: str) -> None:
        """Drop a collection and its data; raises CollectionNotFound."""
        check_collection_name(name)
        aliases = self._server.aliases()
        if name in aliases:
            raise Conflict(f"{name!r} is an alias: delete the alias, not the collection")
        self._server.spec(name, cached=False)
        with self._server.errors(name):
            gone = [_delete_alias(a) for a, target in aliases.items() if target == name]
            if gone:
                self.client.update_collection_aliases(change_aliases_operations=gone)
            self.client.delete_collection(name)
        self._server.forget(name)
        logger.info("deleted collection %s", name)

    def set_alias(self, alias: str, collection: str) -> None:
        """Create `alias`, or atomically re-point it; Conflict if a collection has that name."""
        check_collection_name(alias)
        aliases = self._server.aliases()
        if alias not in aliases and alias in self._server.names():
            raise Conflict(f"{alias!r} is a collection, it cannot be an alias")
        target = self._server.spec(collection, cached=False).name
        if aliases.get(alias) == target:
            return
        create = models.CreateAlias(collection_name=target, alias_name=alias)
        ops: list[models.AliasOperations] = [models.CreateAliasOperation(create_alias=create)]
        if alias in aliases:  # delete and create in one request: an atomic switch
            ops.insert(0, _delete_alias(alias))
        with self._server.errors(collection):
            self.client.update_collection_aliases(change_aliases_operations=ops)
        logger.info("alias %s → collection %s", alias, target)

    def delete_alias(self, alias: str) -> None:
        """Remove an alias; raises CollectionNotFound if there is none by that name."""
        check_collection_name(alias)
        if alias not in self._server.aliases():
            raise CollectionNotFound(f"alias {alias!r} not found", details={"alias": alias})
        with self._server.errors(alias):
            self.client.update_collection_aliases(change_aliases_operations=[_delete_alias(alias)])
        logger.info("deleted alias %s", alias)

    def list_aliases(self) -> dict[str, str]:
        """Every alias and the collection it points at, sorted by alias."""
        return dict(sorted(self._server.aliases().items()))

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    # -- points --------------------------------------------------------------------------------

    def upsert(self, name: str, points: Sequence[VectorPoint]) -> None:
        """Insert or overwrite points by id; durable on return."""
        spec = self._server.spec(name)
        if spec.keyword is None:  # another process may have added the keyword vector since
            spec = self._fresh_spec(name)
        structs = [_point_struct(p, spec) for p in points]
        with self._server.errors(name):
            for start in range(0, len(structs), UPSERT_BATCH):
                batch = structs[start : start + UPSERT_BATCH]
                self.client.upsert(spec.name, points=batch, wait=True)

    def delete_points(self, name: str, ids: Sequence[str]) -> None:
        """Remove points by id; unknown ids are ignored."""
        wanted = unique_ids(ids)
        target = self._server.resolve(name)
        selector = models.PointIdsList(points=list(wanted))
        with self._server.errors(name):
            self.client.delete(target, points_selector=selector, wait=True)

    def count(self, name: str, filter: FilterJSON | None = None) -> int:
        """Exact number of points, optionally matching a filter."""
        count_filter = parse_filter(filter)
        target = self._server.resolve(name)
        with self._server.errors(name, BadFilter if filter else InvalidRequest):
            return self.client.count(target, count_filter=count_filter, exact=True).count

    def retrieve(
        self, name: str, ids: Sequence[str], with_vectors: bool = False
    ) -> list[VectorPoint]:
        """Points by id (missing ids are skipped), in the order asked."""
        wanted = unique_ids(ids)
        target = self._server.resolve(name)
        records = []
        if wanted:
            with self._server.errors(name):
                records = self.client.retrieve(
                    target, ids=wanted, with_payload=True, with_vectors=with_vectors
                )
        found = {str(r.id): r for r in records}
        return [read_point(i, found[i].vector, found[i].payload) for i in wanted if i in found]

    def set_payload(self, name: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Set (overwrite) the given top-level payload keys on points; unknown ids are ignored."""
        check_payload(payload)
        wanted = unique_ids(ids)
        coll = self._server.open(name)
        if wanted and payload:
            only = models.Filter(must=[models.HasIdCondition(has_id=[*wanted])])
            with coll.errors():  # by filter: by id the server answers 404 for unknown ids
                selector = models.FilterSelector(filter=only)
                self.client.set_payload(coll.spec.name, payload=payload, points=selector, wait=True)
            spec = coll.spec if coll.spec.keyword else self._fresh_spec(name)
            if refreshed_by(spec.keyword, payload):
                self._refresh_keywords(name, spec, wanted)

    def delete_by_filter(self, name: str, filter: FilterJSON) -> int:
        """Delete the points matching `filter`; return how many were deleted."""
        selector_filter = parse_filter(filter)
        if selector_filter is None:
            raise BadFilter("delete_by_filter needs a filter ({} matches every point)")
        coll = self._server.open(name)
        with coll.filtering(filter):
            # count, then delete: a server has no "delete and count"; a write between the
            # two makes the count approximate
            count = self.client.count(
                coll.spec.name, count_filter=selector_filter, exact=True
            ).count
            if count:
                selector = models.FilterSelector(filter=selector_filter)
                self.client.delete(coll.spec.name, points_selector=selector, wait=True)
        return count

    # -- the keyword vector (keyword_store) ----------------------------------------------------

    def _fresh_spec(self, name: str) -> CollectionSpec:
        return self._server.spec(name, cached=False)

    def _set_keyword(self, name: str, config: KeywordConfig) -> None:
        spec = self._fresh_spec(name)
        with self._server.errors(name):
            held = self.client.get_collection(spec.name).config.params.sparse_vectors or {}
            if KEYWORD_VECTOR not in held:  # (an earlier call may have added it, then failed)
                sparse = models.SparseVectorConfig(modifier=models.Modifier.IDF)
                self.client.create_vector_name(
                    spec.name, KEYWORD_VECTOR, models.SparseVectorNameConfig(sparse=sparse)
                )
            metadata = {METADATA_KEY: spec_to_json(replace(spec, keyword=config))}
            self.client.update_collection(spec.name, metadata=metadata)
        self._server.forget(spec.name)

    def _set_keywords(self, name: str, vectors: dict[str, Sparse]) -> None:
        target = self._server.resolve(name)
        with self._server.errors(name):
            # only points still there: by id the server answers 404 for the ones that are gone
            held = {str(r.id) for r in self.client.retrieve(target, ids=list(vectors))}
            updates = [
                models.PointVectors(id=i, vector={KEYWORD_VECTOR: server_sparse(v)})
                for i, v in vectors.items()
                if i in held
            ]
            if updates:
                self.client.update_vectors(target, points=updates, wait=True)


KEYWORD_PARAMS = models.SparseVectorParams(modifier=models.Modifier.IDF)


def _delete_alias(alias: str) -> models.DeleteAliasOperation:
    return models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))


def _point_struct(point: VectorPoint, spec: CollectionSpec) -> models.PointStruct:
    point_id, vectors = check_point(point, spec.dim)
    named: dict[str, Any] = dict(vectors)
    words = keyword_vector(spec, point.payload)
    if words is not None:
        named[KEYWORD_VECTOR] = server_sparse(words)
    return models.PointStruct(id=point_id, vector=named, payload=point.payload)
