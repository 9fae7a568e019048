"""The vector store over qdrant-client: a Qdrant server in production, ``:memory:`` in tests.

Each collection keeps its CollectionSpec in the collection's own ``metadata`` (under
``mmsearch``); collections without it are not ours and are reported as not found. Aliases are
Qdrant's own; each call resolves a name through the server's alias list first (one more
request), so a spec is looked up, and cached, under the collection's real name.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Sequence
from contextlib import AbstractContextManager

import numpy as np
from qdrant_client import QdrantClient, models

from mmsearch.infra.errors import (
    AppError,
    BadFilter,
    CollectionExists,
    CollectionNotFound,
    Conflict,
    InvalidRequest,
)
from mmsearch.infra.vectors.base import (
    IMAGE_VECTOR,
    VECTOR_NAMES,
    CollectionInfo,
    CollectionSpec,
    FilterJSON,
    Hit,
    VectorPoint,
    VectorStore,
)
from mmsearch.infra.vectors.checks import (
    canonical_id,
    check_collection_name,
    check_page,
    check_point,
    check_spec,
    check_vector,
    check_vector_name,
    rank_page,
    read_point,
    spec_from_json,
    spec_to_json,
)
from mmsearch.infra.vectors.server_errors import qdrant_errors
from mmsearch.infra.vectors.server_index import field_schema, index_config, search_params
from mmsearch.infra.vectors.server_query import ServerQueries, server_filter

logger = logging.getLogger(__name__)

METADATA_KEY = "mmsearch"
UPSERT_BATCH = 256


class QdrantServerStore(ServerQueries, VectorStore):
    """The VectorStore contract over a QdrantClient (server URL, or local mode for tests)."""

    def __init__(self, client: QdrantClient) -> None:
        self.client = client
        self._specs: dict[str, CollectionSpec] = {}  # cache: dim for validation
        self._lock = threading.Lock()

    def create_collection(self, spec: CollectionSpec) -> None:
        """Create; raises CollectionExists."""
        check_spec(spec)
        if spec.name in self._aliases():
            raise CollectionExists(f"{spec.name!r} already exists as an alias")
        with self._errors(spec.name):
            if self.client.collection_exists(spec.name):
                raise CollectionExists(f"collection {spec.name!r} already exists")
            params = models.VectorParams(size=spec.dim, distance=models.Distance.COSINE)
            self.client.create_collection(
                spec.name,
                vectors_config=dict.fromkeys(VECTOR_NAMES, params),
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

    def get_collection(self, name: str) -> CollectionInfo:
        """Spec plus point count; raises CollectionNotFound."""
        spec = self._spec(name, cached=False)
        with self._errors(name):
            return CollectionInfo(spec, self.client.count(spec.name, exact=True).count)

    def spec(self, name: str) -> CollectionSpec:
        """The spec alone (cached per process); raises CollectionNotFound."""
        return self._spec(name)

    def list_collections(self) -> list[CollectionInfo]:
        """All collections, sorted by name."""
        with self._errors(""):
            names = sorted(c.name for c in self.client.get_collections().collections)
        infos = []
        for name in names:
            try:
                infos.append(self.get_collection(name))
            except CollectionNotFound:  # not ours, or deleted meanwhile
                continue
        return infos

    def delete_collection(self, name: str) -> None:
        """Drop a collection and its data; raises CollectionNotFound."""
        check_collection_name(name)
        aliases = self._aliases()
        if name in aliases:
            raise Conflict(f"{name!r} is an alias: delete the alias, not the collection")
        self._spec(name, cached=False)
        with self._errors(name):
            gone = [_delete_alias(a) for a, target in aliases.items() if target == name]
            if gone:
                self.client.update_collection_aliases(change_aliases_operations=gone)
            self.client.delete_collection(name)
        self._forget(name)
        logger.info("deleted collection %s", name)

    def upsert(self, name: str, points: Sequence[VectorPoint]) -> None:
        """Insert or overwrite points by id; durable on return."""
        spec = self._spec(name)
        structs = [_point_struct(p, spec.dim) for p in points]
        with self._errors(name):
            for start in range(0, len(structs), UPSERT_BATCH):
                batch = structs[start : start + UPSERT_BATCH]
                self.client.upsert(spec.name, points=batch, wait=True)

    def search(
        self,
        name: str,
        vector: np.ndarray,
        *,
        using: str = IMAGE_VECTOR,
        filter: FilterJSON | None = None,
        limit: int = 10,
        offset: int = 0,
        score_threshold: float | None = None,
    ) -> list[Hit]:
        """Nearest points by cosine on vector `using`, best first, ties broken by id."""
        check_vector_name(using)
        check_page(limit, offset, score_threshold)
        query_filter = server_filter(filter)
        spec = self._spec(name)
        query = check_vector(vector, spec.dim, "query vector")

        def fetch(n: int) -> list[Hit]:
            with self._errors(name, BadFilter if filter else InvalidRequest):
                found = self.client.query_points(
                    spec.name,
                    query=query,
                    using=using,
                    query_filter=query_filter,
                    limit=n,
                    score_threshold=score_threshold,
                    with_payload=True,
                    with_vectors=False,
                    search_params=search_params(spec.index),
                ).points
            return [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in found]

        return rank_page(fetch, limit, offset)

    def count(self, name: str, filter: FilterJSON | None = None) -> int:
        """Exact number of points, optionally matching a filter."""
        count_filter = server_filter(filter)
        target = self._resolve(name)
        with self._errors(name, BadFilter if filter else InvalidRequest):
            return self.client.count(target, count_filter=count_filter, exact=True).count

    def retrieve(
        self, name: str, ids: Sequence[str], with_vectors: bool = False
    ) -> list[VectorPoint]:
        """Points by id (missing ids are skipped), in the order asked."""
        wanted = list(dict.fromkeys(canonical_id(i) for i in ids))
        target = self._resolve(name)
        with self._errors(name):
            records = (
                self.client.retrieve(
                    target, ids=wanted, with_payload=True, with_vectors=with_vectors
                )
                if wanted
                else []
            )
        found = {str(r.id): r for r in records}
        return [read_point(i, found[i].vector, found[i].payload) for i in wanted if i in found]

    def delete_points(self, name: str, ids: Sequence[str]) -> None:
        """Remove points by id; unknown ids are ignored."""
        wanted = list(dict.fromkeys(canonical_id(i) for i in ids))
        target = self._resolve(name)
        selector = models.PointIdsList(points=list(wanted))
        with self._errors(name):
            self.client.delete(target, points_selector=selector, wait=True)

    def set_alias(self, alias: str, collection: str) -> None:
        """Create `alias`, or atomically re-point it; Conflict if a collection has that name."""
        check_collection_name(alias)
        aliases = self._aliases()
        if alias not in aliases and alias in self._physical():
            raise Conflict(f"{alias!r} is a collection, it cannot be an alias")
        target = self._spec(collection, cached=False).name
        if aliases.get(alias) == target:
            return
        create = models.CreateAlias(collection_name=target, alias_name=alias)
        ops: list[models.AliasOperations] = [models.CreateAliasOperation(create_alias=create)]
        if alias in aliases:  # delete and create in one request: an atomic switch
            ops.insert(0, _delete_alias(alias))
        with self._errors(collection):
            self.client.update_collection_aliases(change_aliases_operations=ops)
        logger.info("alias %s → collection %s", alias, target)

    def delete_alias(self, alias: str) -> None:
        """Remove an alias; raises CollectionNotFound if there is none by that name."""
        check_collection_name(alias)
        if alias not in self._aliases():
            raise CollectionNotFound(f"alias {alias!r} not found", details={"alias": alias})
        with self._errors(alias):
            self.client.update_collection_aliases(change_aliases_operations=[_delete_alias(alias)])
        logger.info("deleted alias %s", alias)

    def list_aliases(self) -> dict[str, str]:
        """Every alias and the collection it points at, sorted by alias."""
        return dict(sorted(self._aliases().items()))

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    # -- internals -----------------------------------------------------------------------------

    def _resolve(self, name: str) -> str:
        """The collection `name` stands for: itself, or the one it is an alias of."""
        check_collection_name(name)
        return self._aliases().get(name, name)

    def _aliases(self) -> dict[str, str]:
        with self._errors(""):
            found = self.client.get_aliases().aliases
        return {a.alias_name: a.collection_name for a in found}

    def _physical(self) -> set[str]:
        with self._errors(""):
            return {c.name for c in self.client.get_collections().collections}

    def _spec(self, name: str, cached: bool = True) -> CollectionSpec:
        """The spec (from its metadata) of the collection `name` stands for; CollectionNotFound."""
        name = self._resolve(name)
        with self._lock:
            spec = self._specs.get(name) if cached else None
        if spec is not None:
            return spec
        with self._errors(name):
            if not self.client.collection_exists(name):
                raise CollectionNotFound(f"collection {name!r} not found")
            metadata = self.client.get_collection(name).config.metadata or {}
        if not isinstance(metadata.get(METADATA_KEY), dict):
            raise CollectionNotFound(f"collection {name!r} is not an mmsearch collection")
        spec = spec_from_json(metadata[METADATA_KEY])
        with self._lock:
            self._specs[name] = spec
        return spec

    def _forget(self, name: str) -> None:
        with self._lock:
            self._specs.pop(name, None)

    def _errors(
        self, name: str, bad_request: type[AppError] = InvalidRequest
    ) -> AbstractContextManager[None]:
        """Translate client and server errors into the platform's errors (see server_errors)."""
        return qdrant_errors(name, bad_request, self._forget)


def _delete_alias(alias: str) -> models.DeleteAliasOperation:
    return models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))


def _point_struct(point: VectorPoint, dim: int) -> models.PointStruct:
    point_id, vectors = check_point(point, dim)
    return models.PointStruct(id=point_id, vector=vectors, payload=point.payload)  # type: ignore[arg-type]
