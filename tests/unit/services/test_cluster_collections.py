"""Cluster settings through the collection services: kept on a server, carried into a re-embedded
version, refused by the embedded engine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qdrant_client import QdrantClient

from mmsearch.api.schemas.resources import ClusterSettings, CollectionCreate, ReembedRequest
from mmsearch.api.services.collections import create_collection, reembed
from mmsearch.encoders import TINY_TEST_MODEL
from mmsearch.infra.errors import NotApplicable
from mmsearch.infra.jobs.store import JobStore
from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors import EdgeVectorStore, QdrantServerStore
from mmsearch.infra.vectors.types import ClusterConfig
from mmsearch.workers.dispatch import TaskSender
from tests.unit.services.conftest import OTHER_MODEL, RecordingLoader

SPREAD = ClusterSettings(shard_number=6, replication_factor=2, write_consistency_factor=2)


@pytest.fixture()
def server() -> Iterator[QdrantServerStore]:
    store = QdrantServerStore(QdrantClient(location=":memory:"))
    yield store
    store.close()


def test_a_server_collection_keeps_its_cluster_settings_across_versions(
    server: QdrantServerStore,
    jobs: JobStore,
    sender: TaskSender,
    load: RecordingLoader,
    settings: Settings,
) -> None:
    body = CollectionCreate(name="photos", cluster=SPREAD)
    created = create_collection(server, load, settings.allowed_models, TINY_TEST_MODEL, body)
    assert created.cluster == SPREAD
    expected = ClusterConfig(shard_number=6, replication_factor=2, write_consistency_factor=2)
    assert server.spec("photos--v1").cluster == expected
    request = ReembedRequest(model=OTHER_MODEL)
    reembed(server, jobs, sender, load, settings.allowed_models, "photos", request)
    assert server.spec("photos--v2").cluster == expected


def test_the_embedded_engine_refuses_cluster_settings(
    vectors: EdgeVectorStore, load: RecordingLoader, settings: Settings
) -> None:
    body = CollectionCreate(name="photos", cluster=ClusterSettings(replication_factor=3))
    with pytest.raises(NotApplicable, match="Qdrant server"):
        create_collection(vectors, load, settings.allowed_models, TINY_TEST_MODEL, body)
    assert vectors.list_aliases() == {} and vectors.list_specs() == []
