"""The embedded engine served to another process: the same answers and errors as the store
itself, close() left to the owner, and a clean exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmsearch.infra.errors import CollectionNotFound, Unavailable
from mmsearch.infra.vectors import EdgeVectorStore
from mmsearch.infra.vectors.shared import RemoteVectors, share_vectors
from tests.fixtures.vectors import SPEC, loaded, make_points


def test_a_caller_gets_the_owners_answers_and_errors(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path)
    points = make_points()
    with share_vectors(store) as address:
        remote = RemoteVectors(address).as_store()
        loaded([remote])  # created and written through the socket
        assert store.count(SPEC.name) == remote.count(SPEC.name) == len(points)
        query = points[5].vectors["image"]
        assert remote.search(SPEC.name, query, limit=5) == store.search(SPEC.name, query, limit=5)
        [back] = remote.retrieve(SPEC.name, [points[7].id], with_vectors=True)
        np.testing.assert_array_equal(back.vectors["image"], points[7].vectors["image"])
        with pytest.raises(CollectionNotFound):
            remote.count("nowhere")
        remote.close()  # the owner's engine stays open
        assert store.count(SPEC.name) == len(points)
    with pytest.raises(Unavailable):  # the owner stopped sharing
        remote.count(SPEC.name)
    store.close()


def test_a_process_that_shared_its_engine_exits_cleanly(tmp_path: Path) -> None:
    script = f"""
from pathlib import Path
from mmsearch.infra.vectors import EdgeVectorStore
from mmsearch.infra.vectors.shared import RemoteVectors, share_vectors
store = EdgeVectorStore(Path({str(tmp_path)!r}))
with share_vectors(store) as address:
    RemoteVectors(address).list_collections()
store.close()
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
