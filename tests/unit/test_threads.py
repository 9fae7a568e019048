"""Ingest threads run below the priority of the threads that answer queries (Linux)."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mmsearch.infra.threads import lower_this_thread, thread_nice

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice")


def in_new_thread(nice: int) -> tuple[int, int]:
    """Lower a new thread; its nice, and the nice of a thread it then starts."""
    seen: list[int] = []

    def body() -> None:
        lower_this_thread(nice)
        seen.append(thread_nice())
        child = threading.Thread(target=lambda: seen.append(thread_nice()))
        child.start()
        child.join()

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    return seen[0], seen[1]


def test_a_thread_lowers_itself_and_its_children_alone() -> None:
    before = thread_nice()
    assert in_new_thread(before + 5) == (before + 5, before + 5)
    assert thread_nice() == before  # the calling thread (and the process) keep theirs


def test_zero_or_a_lower_value_changes_nothing() -> None:
    before = thread_nice()
    assert in_new_thread(0) == (before, before)


def test_the_runtime_fetch_threads_run_lowered(tmp_path: Path) -> None:
    from mmsearch.infra.runtime import Runtime
    from mmsearch.infra.settings import Settings

    runtime = Runtime(Settings(data_dir=tmp_path, ingest_nice=thread_nice() + 3))
    pool: ThreadPoolExecutor = runtime.fetch_pool
    try:
        assert pool.submit(thread_nice).result() == thread_nice() + 3
    finally:
        pool.shutdown()
