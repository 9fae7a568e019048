"""A tenant's scope on the embedded engine: whatever filter it adds, it finds its own items only."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from mmsearch.infra.catalog.tenancy import TENANT_FIELD, owned, scoped
from mmsearch.infra.vectors import CollectionSpec, EdgeVectorStore, FieldType, VectorPoint

DIM = 8
ESCAPES = {
    "none": None,
    "should other tenant": {
        "should": [
            {"key": "metadata.owner", "match": {"value": "acme"}},
            {"key": TENANT_FIELD, "match": {"value": "acme"}},
        ]
    },
    "must not own tenant": {"must_not": [{"key": TENANT_FIELD, "match": {"value": "globex"}}]},
    "other tenant's ids": {"must": [{"has_id": [str(uuid.uuid5(uuid.NAMESPACE_URL, "acme/x0"))]}]},
}


@pytest.fixture()
def store(tmp_path: Path) -> EdgeVectorStore:
    store = EdgeVectorStore(tmp_path)
    schema = {TENANT_FIELD: FieldType.KEYWORD, "metadata.owner": FieldType.KEYWORD}
    store.create_collection(CollectionSpec("shared", DIM, "m", payload_schema=schema))
    rng = np.random.default_rng(3)
    points = []
    for tenant, count in (("acme", 4), ("globex", 3)):
        for i in range(count):
            vector = rng.standard_normal(DIM).astype(np.float32)
            point_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/x{i}"))
            payload = {TENANT_FIELD: tenant, "id": f"x{i}", "metadata": {"owner": tenant}}
            points.append(
                VectorPoint(point_id, {"image": vector / np.linalg.norm(vector)}, payload)
            )
    store.upsert("shared", points)
    return store


@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_a_scoped_search_finds_only_the_own_tenant(store: EdgeVectorStore, escape: str) -> None:
    query = np.ones(DIM, dtype=np.float32) / np.sqrt(DIM)
    flt = scoped(ESCAPES[escape], "globex")
    hits = store.search("shared", query, filter=flt, limit=50)
    assert all(owned(hit.payload, "globex") for hit in hits)
    if escape == "none":
        assert sorted(hit.payload["id"] for hit in hits) == ["x0", "x1", "x2"]
    else:
        assert hits == []
    assert store.count("shared", flt) == len(hits)
    unscoped = store.search("shared", query, filter=scoped(None, None), limit=50)
    assert len(unscoped) == 7 and all(owned(hit.payload, None) for hit in unscoped)
    assert {hit.payload[TENANT_FIELD] for hit in unscoped} == {"acme", "globex"}
