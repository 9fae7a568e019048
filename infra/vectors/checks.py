"""Checks of what is written to and asked of a collection, shared by both engines.

Collection names, query vectors and points are checked here (raising InvalidRequest), and
collection specs are converted to and from JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import numpy as np

from mmsearch.infra.errors import InvalidRequest
from mmsearch.infra.vectors.arguments import canonical_id, check_vector_name
from mmsearch.infra.vectors.keywords import check_keyword
from mmsearch.infra.vectors.types import (
    COLLECTION_NAME_RE,
    LEGACY_INDEX,
    QUANTIZATIONS,
    SINGLE_NODE,
    VECTOR_NAMES,
    ClusterConfig,
    CollectionSpec,
    FieldType,
    IndexConfig,
    KeywordConfig,
    RerankConfig,
    VectorPoint,
)


def check_collection_name(name: str) -> str:
    """Return `name` if it is a valid collection name (also a safe folder name), else raise."""
    if not isinstance(name, str) or not COLLECTION_NAME_RE.match(name):
        raise InvalidRequest(
            "collection name must match ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
            details={"name": str(name)[:100]},
        )
    return name


def check_vector(vector: np.ndarray, dim: int, what: str = "vector") -> list[float]:
    """A finite vector of length `dim` as a list of floats; raise InvalidRequest otherwise."""
    arr = np.asarray(vector, dtype=np.float32).reshape(-1)
    if arr.shape[0] != dim or not np.isfinite(arr).all() or not arr.any():
        raise InvalidRequest(f"{what} must be {dim} finite numbers, not all zero")
    return list(arr.tolist())


def check_vectors(vectors: Mapping[Any, np.ndarray], dim: int) -> dict[Any, list[float]]:
    """check_vector on each query vector, named in errors by its key (a vector name, an index)."""
    return {key: check_vector(vec, dim, f"query vector {key!r}") for key, vec in vectors.items()}


def check_point(point: VectorPoint, dim: int) -> tuple[str, dict[str, list[float]]]:
    """A point's canonical id and its validated named vectors (at least one); raise if invalid."""
    if not point.vectors:
        raise InvalidRequest("a point needs at least one vector", details={"id": point.id})
    if not isinstance(point.payload, dict):
        raise InvalidRequest("a point's payload must be an object", details={"id": point.id})
    vectors = {
        check_vector_name(name): check_vector(vec, dim, f"vector {name!r}")
        for name, vec in point.vectors.items()
    }
    return canonical_id(point.id), vectors


def read_point(point_id: str, vectors: Any, payload: dict[str, Any] | None) -> VectorPoint:
    """A VectorPoint from an engine's record (vectors: name → list, or None when not asked)."""
    # the keyword vector is derived from the payload: a point is read with its dense ones
    dense = {k: v for k, v in (vectors or {}).items() if k in VECTOR_NAMES}
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in dense.items()}
    return VectorPoint(id=point_id, vectors=arrays, payload=dict(payload or {}))


def spec_to_json(spec: CollectionSpec) -> dict[str, Any]:
    """A collection spec as plain JSON (stored next to, or inside, the collection)."""
    versioning = {
        "public_name": spec.public_name,
        "version": spec.version,
        "id_namespace": spec.id_namespace,
    }
    return {
        "name": spec.name,
        "dim": spec.dim,
        "model": spec.model,
        "payload_schema": {key: str(kind) for key, kind in spec.payload_schema.items()},
        "index": asdict(spec.index),
        **versioning,
        "incarnation": spec.incarnation,
        **_cluster_json(spec.cluster),
        **({"keyword": _keyword_json(spec.keyword)} if spec.keyword else {}),
        **({"rerank": asdict(spec.rerank)} if spec.rerank else {}),
        # The same fields where the previous release reads them, so its workers and API (during
        # a rolling upgrade, or after a rollback) still see which version is which.
        "extra": {key: value for key, value in versioning.items() if value is not None},
    }


def spec_from_json(data: dict[str, Any]) -> CollectionSpec:
    """The inverse of spec_to_json; also reads specs stored by earlier releases."""
    # Earlier releases kept the version fields in a free-form "extra" object.
    versioning = {**(data.get("extra") or {}), **data}
    version = versioning.get("version")
    return CollectionSpec(
        name=str(data["name"]),
        dim=int(data["dim"]),
        model=str(data["model"]),
        payload_schema={k: FieldType(v) for k, v in (data.get("payload_schema") or {}).items()},
        index=IndexConfig(**data["index"]) if "index" in data else LEGACY_INDEX,
        public_name=_optional_str(versioning.get("public_name")),
        version=None if version is None else int(version),
        id_namespace=_optional_str(versioning.get("id_namespace")),
        incarnation=_optional_str(data.get("incarnation")),
        cluster=ClusterConfig(**data["cluster"]) if "cluster" in data else SINGLE_NODE,
        keyword=_keyword_config(data.get("keyword")),
        rerank=RerankConfig(**data["rerank"]) if isinstance(data.get("rerank"), dict) else None,
    )


def _keyword_json(config: KeywordConfig) -> dict[str, Any]:
    return {**asdict(config), "fields": list(config.fields)}


def _keyword_config(data: Any) -> KeywordConfig | None:
    if not isinstance(data, dict):
        return None
    return KeywordConfig(**{**data, "fields": tuple(data["fields"])})


def _cluster_json(cluster: ClusterConfig) -> dict[str, Any]:
    # Written only when set, so a spec of a single-node collection reads as before.
    settings = {key: value for key, value in asdict(cluster).items() if value is not None}
    return {"cluster": settings} if settings else {}


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def check_spec(spec: CollectionSpec) -> CollectionSpec:
    """Validate a spec to create (name, dim, field types); raise InvalidRequest."""
    check_collection_name(spec.name)
    if not isinstance(spec.dim, int) or not 1 <= spec.dim <= 65536:
        raise InvalidRequest("dim must be an integer between 1 and 65536")
    for key, kind in spec.payload_schema.items():
        if not key or not isinstance(key, str):
            raise InvalidRequest("payload_schema keys must be non-empty payload paths")
        try:
            FieldType(kind)
        except ValueError:
            raise InvalidRequest(f"unknown field type {kind!r} for {key!r}") from None
    check_index(spec.index)
    check_cluster(spec.cluster)
    if spec.keyword is not None:
        check_keyword(spec.keyword)
    return spec


def check_cluster(cluster: ClusterConfig) -> ClusterConfig:
    """Validate cluster settings (each None or 1 to 1000 when set); raise InvalidRequest."""
    for key, value in asdict(cluster).items():
        if value is not None and (not isinstance(value, int) or not 1 <= value <= 1000):
            raise InvalidRequest(f"cluster.{key} must be an integer between 1 and 1000")
    if (cluster.write_consistency_factor or 1) > (cluster.replication_factor or 1):
        raise InvalidRequest("cluster.write_consistency_factor exceeds cluster.replication_factor")
    return cluster


def check_index(index: IndexConfig) -> IndexConfig:
    """Validate index settings; raise InvalidRequest."""
    bounds = {
        "m": (4, 128),
        "ef_construct": (4, 4096),
        "hnsw_ef": (1, 4096),
        "indexing_threshold": (0, 100_000_000),
    }
    for key, (low, high) in bounds.items():
        value = getattr(index, key)
        if not isinstance(value, int) or not low <= value <= high:
            raise InvalidRequest(f"index.{key} must be an integer between {low} and {high}")
    if index.quantization not in QUANTIZATIONS:
        raise InvalidRequest(f"index.quantization must be one of {QUANTIZATIONS}")
    return index
