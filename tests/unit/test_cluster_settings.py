"""Cluster settings: validated, stored with the spec on a server, refused by the embedded engine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError
from qdrant_client import QdrantClient

from mmsearch.api.schemas.resources import CollectionCreate
from mmsearch.infra.errors import InvalidRequest, NotApplicable
from mmsearch.infra.vectors import EdgeVectorStore, QdrantServerStore
from mmsearch.infra.vectors.checks import check_spec, spec_from_json, spec_to_json
from mmsearch.infra.vectors.types import SINGLE_NODE, ClusterConfig
from tests.fixtures.vectors import SPEC

SPREAD = replace(SPEC, cluster=ClusterConfig(shard_number=4, replication_factor=3))


def test_the_spec_keeps_its_cluster_settings_and_older_specs_load() -> None:
    assert spec_from_json(spec_to_json(SPREAD)) == SPREAD
    stored = spec_to_json(SPEC)
    assert "cluster" not in stored  # a single-node spec is stored as the previous release did
    assert spec_from_json(stored).cluster == SINGLE_NODE
    assert spec_to_json(SPREAD)["cluster"] == {"shard_number": 4, "replication_factor": 3}


@pytest.mark.parametrize(
    "bad",
    [
        ClusterConfig(shard_number=0),
        ClusterConfig(replication_factor=1001),
        ClusterConfig(write_consistency_factor=2),  # more than the single replica
        ClusterConfig(replication_factor=2, write_consistency_factor=3),
    ],
)
def test_bad_cluster_settings_are_refused(bad: ClusterConfig) -> None:
    with pytest.raises(InvalidRequest, match="cluster"):
        check_spec(replace(SPEC, cluster=bad))


def test_the_embedded_engine_refuses_cluster_settings(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path)
    with pytest.raises(NotApplicable) as refused:
        store.create_collection(SPREAD)
    assert refused.value.status == 422 and refused.value.code == "not_applicable"
    assert store.list_specs() == []
    store.create_collection(SPEC)
    store.close()


def test_a_server_keeps_them_with_the_collection() -> None:
    store = QdrantServerStore(QdrantClient(location=":memory:"))
    store.create_collection(SPREAD)
    assert QdrantServerStore(store.client).get_collection(SPEC.name).spec == SPREAD
    store.close()


def test_the_api_takes_them_on_create() -> None:
    body = CollectionCreate(name="photos", cluster={"shard_number": 2, "replication_factor": 2})
    assert body.cluster.config() == ClusterConfig(shard_number=2, replication_factor=2)
    assert CollectionCreate(name="photos").cluster.config() == SINGLE_NODE
    with pytest.raises(ValidationError):
        CollectionCreate(name="photos", cluster={"shards": 2})
