"""The embedded engine builds its index in a pause between searches, or once a backlog has
waited too long, and new points are found meanwhile."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mmsearch.infra.vectors import EdgeVectorStore, IndexConfig
from mmsearch.infra.vectors.edge.indexing import IndexSchedule
from tests.fixtures.vectors import SPEC, loaded, make_points

SMALL_INDEX = replace(SPEC, index=IndexConfig(indexing_threshold=100))


def indexed(store: EdgeVectorStore) -> int:
    return int(store._collections.by_name[SPEC.name].shard.info().indexed_vectors_count)


def eventually(check: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until `check` held (fails after `timeout_s`)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, f"not within {timeout_s} s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_build_waits_for_a_pause_in_searches(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path, schedule=IndexSchedule(quiet_s=1.5, max_defer_s=600))
    points = make_points()
    store.create_collection(SMALL_INDEX)
    store.search(SPEC.name, points[0].vectors["image"], limit=1)  # a search runs now
    store.upsert(SPEC.name, points)
    assert indexed(store) == 0  # not while searches run
    for p in points[100:110]:  # unindexed points are found, exactly
        assert store.search(SPEC.name, p.vectors["image"], limit=1)[0].id == p.id
    waited = eventually(lambda: indexed(store) >= 200, timeout_s=20)
    assert waited >= 1.0  # the pause after the last search, not at once
    assert store.search(SPEC.name, points[150].vectors["image"], limit=1)[0].id == points[150].id
    store.close()


def test_an_overdue_backlog_is_indexed_under_constant_searches(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path, schedule=IndexSchedule(quiet_s=60, max_defer_s=1.0))
    points = make_points()
    store.create_collection(SMALL_INDEX)
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            store.search(SPEC.name, points[0].vectors["image"], limit=1)
            time.sleep(0.01)

    searcher = threading.Thread(target=search)
    searcher.start()
    try:
        time.sleep(0.1)
        store.upsert(SPEC.name, points)
        assert indexed(store) == 0
        eventually(lambda: indexed(store) >= 200, timeout_s=20)  # without any pause
    finally:
        stop.set()
        searcher.join()
    store.close()


def test_without_searches_the_index_is_built_as_points_arrive(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path, schedule=IndexSchedule(quiet_s=600, max_defer_s=600))
    loaded([store], spec=SMALL_INDEX)
    assert indexed(store) >= 200  # no search ever ran: nothing to wait for
    store.close()
