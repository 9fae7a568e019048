"""What the server store asks of Qdrant: the settings qdrant-client's local mode accepts and
ignores (HNSW, quantization, tenant and payload indexes, cluster layout, search breadth) are
read from the requests it sends, recorded on a real client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from mmsearch.infra.catalog.payload import TENANT_FIELD
from mmsearch.infra.vectors import FieldType, IndexConfig, QdrantServerStore
from mmsearch.infra.vectors.types import ClusterConfig
from tests.fixtures.vectors import DIM, POINTS, SPEC, queries

RECORDED = (
    "create_collection",
    "create_payload_index",
    "update_collection",
    "query_points",
    "query_points_groups",
    "query_batch_points",
)
TUNED = replace(
    SPEC,
    payload_schema={**SPEC.payload_schema, TENANT_FIELD: FieldType.KEYWORD},
    index=IndexConfig(m=24, ef_construct=200, hnsw_ef=300, indexing_threshold=5_000),
    cluster=ClusterConfig(shard_number=6, replication_factor=3, write_consistency_factor=2),
)
Call = tuple[str, tuple[Any, ...], dict[str, Any]]


def recorded(client: QdrantClient, calls: list[Call]) -> QdrantClient:
    """`client`, its RECORDED methods noting each call in `calls` before making it."""

    def wrap(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, args, kwargs))
            return method(*args, **kwargs)

        return call

    for name in RECORDED:
        setattr(client, name, wrap(name, getattr(client, name)))
    return client


@pytest.fixture
def calls() -> list[Call]:
    return []


@pytest.fixture
def store(calls: list[Call]) -> Iterator[QdrantServerStore]:
    store = QdrantServerStore(recorded(QdrantClient(location=":memory:"), calls))
    yield store
    store.close()


def sent(calls: list[Call], name: str) -> list[dict[str, Any]]:
    """The keyword arguments of each recorded call to `name`."""
    return [kwargs for called, _, kwargs in calls if called == name]


def test_a_collection_is_created_with_its_index_and_cluster_settings(
    store: QdrantServerStore, calls: list[Call]
) -> None:
    store.create_collection(TUNED)
    [create] = sent(calls, "create_collection")
    assert create["hnsw_config"].m == 24 and create["hnsw_config"].ef_construct == 200
    kb = 5_000 * DIM * 4 // 1024
    assert create["hnsw_config"].full_scan_threshold == kb
    assert create["optimizers_config"].indexing_threshold == kb
    assert create["quantization_config"] == models.ScalarQuantization(
        scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
    )
    assert (create["shard_number"], create["replication_factor"]) == (6, 3)
    assert create["write_consistency_factor"] == 2
    for params in create["vectors_config"].values():
        assert params == models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    indexes = {args[1]: kwargs["field_schema"] for n, args, kwargs in calls if n == RECORDED[1]}
    assert indexes.pop(TENANT_FIELD) == models.KeywordIndexParams(
        type=models.KeywordIndexType.KEYWORD, is_tenant=True
    )
    assert indexes == {
        "metadata.album": models.PayloadSchemaType.KEYWORD,
        "metadata.tags": models.PayloadSchemaType.KEYWORD,
        "metadata.year": models.PayloadSchemaType.INTEGER,
        "metadata.rating": models.PayloadSchemaType.FLOAT,
        "metadata.favourite": models.PayloadSchemaType.BOOL,
        "metadata.taken": models.PayloadSchemaType.DATETIME,
        "metadata.caption": models.PayloadSchemaType.TEXT,
    }


def test_a_plain_collection_leaves_the_cluster_layout_to_the_server(
    store: QdrantServerStore, calls: list[Call]
) -> None:
    store.create_collection(replace(SPEC, index=IndexConfig(quantization=None)))
    [create] = sent(calls, "create_collection")
    assert create["shard_number"] is None and create["replication_factor"] is None
    assert create["write_consistency_factor"] is None and create["quantization_config"] is None


def test_every_search_sends_the_search_breadth_and_rescoring(
    store: QdrantServerStore, calls: list[Call]
) -> None:
    store.create_collection(TUNED)
    store.upsert(SPEC.name, POINTS[:50])
    q = queries()[1]
    store.search(SPEC.name, q, limit=3)
    store.recommend(SPEC.name, [POINTS[1].id], limit=3)
    store.search_groups(SPEC.name, q, group_by="metadata.album")
    store.search_hybrid(SPEC.name, {"image": q, "text": q})
    store.search_batch(SPEC.name, [q, queries()[2]])
    params = [kw["search_params"] for kw in sent(calls, "query_points") if "search_params" in kw]
    params += [kw["search_params"] for kw in sent(calls, "query_points_groups")]
    params += [p.params for kw in sent(calls, "query_points") for p in kw.get("prefetch") or []]
    params += [r.params for kw in sent(calls, "query_batch_points") for r in kw["requests"]]
    assert len(params) >= 6
    rescore = models.QuantizationSearchParams(rescore=True, oversampling=2.0)
    assert all(p == models.SearchParams(hnsw_ef=300, quantization=rescore) for p in params)
    exact = replace(TUNED, name="exact", index=IndexConfig(hnsw_ef=64, quantization=None))
    store.create_collection(exact)
    store.search("exact", np.ones(DIM))
    assert sent(calls, "query_points")[-1]["search_params"] == models.SearchParams(hnsw_ef=64)


def test_a_bulk_load_defers_indexing_and_restores_it(
    store: QdrantServerStore, calls: list[Call]
) -> None:
    store.create_collection(TUNED)
    store.defer_indexing(SPEC.name)
    store.defer_indexing(SPEC.name, deferred=False)
    updates = [(args[0], kw["optimizers_config"]) for n, args, kw in calls if n == RECORDED[2]]
    kb = 5_000 * DIM * 4 // 1024
    assert updates == [
        (SPEC.name, models.OptimizersConfigDiff(indexing_threshold=0)),
        (SPEC.name, models.OptimizersConfigDiff(indexing_threshold=kb)),
    ]
