"""`mmsearch migrate` on a data folder: cluster options applied to every copied collection, the
same options again finish the copy, and a folder in use is refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from mmsearch.api.cli.backup import BackupRefused
from mmsearch.api.cli.migrate import migrate
from mmsearch.infra.errors import SpecMismatch
from mmsearch.infra.vectors import EdgeVectorStore, QdrantServerStore
from mmsearch.infra.vectors.types import ClusterConfig
from tests.fixtures.vectors import POINTS, SPEC

SPREAD = ClusterConfig(shard_number=6, replication_factor=2, write_consistency_factor=1)


def data_folder(path: Path) -> Path:
    store = EdgeVectorStore(path / "qdrant")
    store.create_collection(SPEC)
    store.upsert(SPEC.name, POINTS[:100])
    store.close()
    return path


def test_the_cluster_options_spread_every_collection(tmp_path: Path) -> None:
    data, to = data_folder(tmp_path / "data"), f"path:{tmp_path / 'server'}"
    assert migrate(data, to, cluster=SPREAD) == 100
    assert migrate(data, to, cluster=SPREAD) == 100  # the same options: nothing to change
    with pytest.raises(SpecMismatch):
        migrate(data, to)  # other options than the copy on the server was made with
    server = QdrantServerStore(QdrantClient(path=str(tmp_path / "server")))
    assert server.get_collection(SPEC.name).spec == replace(SPEC, cluster=SPREAD)
    assert server.count(SPEC.name) == 100
    server.close()


def test_a_folder_in_use_is_refused(tmp_path: Path) -> None:
    data = data_folder(tmp_path / "data")
    running = EdgeVectorStore(data / "qdrant")
    with pytest.raises(BackupRefused, match="stop mmsearch standalone"):
        migrate(data, f"path:{tmp_path / 'server'}")
    running.close()
    with pytest.raises(BackupRefused, match="no embedded engine"):
        migrate(tmp_path / "nothing", f"path:{tmp_path / 'server'}")
