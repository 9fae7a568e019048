"""Disk of the embedded engine: what merges and moved points leave behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mmsearch.infra.vectors import CollectionSpec, EdgeVectorStore, IndexConfig
from tests.fixtures.vectors import make_points

DIM = 48
# a graph every 100 points, at most 2 segments: every optimize() merges what came before
SPEC = CollectionSpec("photos", DIM, "test-model", index=IndexConfig(indexing_threshold=100))


def segment_folders(store_path: Path, name: str = SPEC.name) -> int:
    """How many segment folders the collection's shard holds on disk."""
    return sum(1 for p in (store_path / name / "shard" / "segments").iterdir() if p.is_dir())


def live_segments(store: EdgeVectorStore, name: str = SPEC.name) -> int:
    """How many segments the engine serves from."""
    with store._collections.use(name) as coll:
        return int(coll.shard.info().segments_count)


@pytest.mark.parametrize("fsync", [True, False])
def test_merged_segments_leave_no_folders_behind(tmp_path: Path, fsync: bool) -> None:
    store = EdgeVectorStore(tmp_path, max_segments=2, fsync=fsync)
    store.create_collection(SPEC)
    points = make_points(1000, dim=DIM)
    for start in range(0, len(points), 100):
        store.upsert(SPEC.name, points[start : start + 100])
    merged = live_segments(store)
    assert merged <= 3  # two merged segments and the appendable one: merges did happen
    assert segment_folders(tmp_path) == merged
    store.close()


def segment_bytes(store_path: Path, name: str = SPEC.name) -> int:
    """Allocated bytes of the collection's segments (the WAL left out)."""
    folder = store_path / name / "shard" / "segments"
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def test_a_metadata_update_of_every_item_does_not_keep_a_second_copy(tmp_path: Path) -> None:
    spec = CollectionSpec("photos", DIM, "test-model", index=IndexConfig(indexing_threshold=1000))
    store = EdgeVectorStore(tmp_path, max_segments=2)
    store.create_collection(spec)
    points = make_points(4000, dim=DIM)
    for start in range(0, len(points), 500):
        store.upsert(spec.name, points[start : start + 500])
    before = segment_bytes(tmp_path)
    ids = [p.id for p in points]
    for start in range(0, len(ids), 500):  # each point moves out of its indexed segment
        store.set_payload(spec.name, ids[start : start + 500], {"metadata": {"album": "x"}})
    # the moved copies are indexed and the stale ones vacuumed, not left until later writes
    assert segment_bytes(tmp_path) < 1.2 * before
    store.close()


# A process that merges segments and dies before its next flush (as one could before the store
# flushed after each optimize): the merged-away segments stay on disk, and load as live ones.
MERGE_AND_DIE = """
import os, sys
from pathlib import Path
import qdrant_edge as qe
from mmsearch.infra.vectors import EdgeVectorStore
from mmsearch.infra.vectors.checks import check_point
from tests.fixtures.vectors import make_points
from tests.unit.test_edge_disk import DIM, SPEC
store = EdgeVectorStore(Path(sys.argv[1]), max_segments=2)
store.create_collection(SPEC)
points = [qe.Point(*check_point(p, DIM), p.payload) for p in make_points(1000, dim=DIM)]
with store._collections.use(SPEC.name) as coll:
    for start in range(0, len(points), 100):
        coll.shard.update(qe.UpdateOperation.upsert_points(points[start : start + 100]))
        coll.shard.optimize()
    os._exit(0)  # killed: no flush, no close
"""


def test_copies_left_by_an_interrupted_merge_go_with_the_next_write(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    subprocess.run([sys.executable, "-c", MERGE_AND_DIE, str(tmp_path)], check=True, cwd=root)
    left = segment_folders(tmp_path)
    store = EdgeVectorStore(tmp_path, max_segments=2)
    assert live_segments(store) == left > 3  # the copies are served as segments
    store.upsert(SPEC.name, make_points(1, dim=DIM))
    assert segment_folders(tmp_path) == live_segments(store) <= 3
    with store._collections.use(SPEC.name) as coll:
        assert coll.shard.info().points_count == store.count(SPEC.name) == 1000
    store.close()
