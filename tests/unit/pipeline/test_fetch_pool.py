"""The fetch threads belong to the runtime: built once, sized by settings, closed with it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mmsearch.infra.runtime import Runtime
from mmsearch.infra.settings import Settings


def test_the_fetch_pool_runs_fetch_concurrency_threads_and_closes_with_the_runtime(
    tmp_path: Path,
) -> None:
    runtime = Runtime(Settings(data_dir=tmp_path, fetch_concurrency=3))
    pool = runtime.fetch_pool
    assert runtime.fetch_pool is pool  # one pool for every batch
    together = threading.Barrier(3, timeout=10)  # passes only with three threads at once
    assert list(pool.map(lambda _: together.wait() >= 0, range(3))) == [True] * 3

    runtime.close()

    with pytest.raises(RuntimeError):
        pool.submit(int)
    replacement = runtime.fetch_pool  # a runtime used after close starts a new pool
    assert replacement is not pool and replacement.submit(int, "7").result() == 7
    runtime.close()
