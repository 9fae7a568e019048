"""An embedded store that cannot read back a collection says which one, why, and how to recover."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmsearch.infra.errors import Unavailable
from mmsearch.infra.vectors import IMAGE_VECTOR, CollectionSpec, EdgeVectorStore, VectorPoint


def _spec(name: str) -> CollectionSpec:
    return CollectionSpec(f"{name}--v1", 4, "test-model", {}, public_name=name, version=1)


def _point(payload: dict[str, Any]) -> VectorPoint:
    vector = np.full(4, 0.5, dtype=np.float32)
    return VectorPoint(str(uuid.uuid4()), {IMAGE_VECTOR: vector}, payload)


def test_an_unreadable_collection_stops_the_store_with_the_way_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(124):  # written by a release that did not bound metadata
        deep = {"n": deep}
    store = EdgeVectorStore(tmp_path)
    for name, payload in (("fine", {"metadata": {"a": 1}}), ("broken", {"metadata": deep})):
        store.create_collection(_spec(name))
        store.upsert(f"{name}--v1", [_point(payload)])
    store.close()

    with pytest.raises(Unavailable) as refused:
        EdgeVectorStore(tmp_path)
    message = refused.value.message
    assert refused.value.code == "collection_unreadable"
    assert "'broken--v1'" in message and f"move {tmp_path / 'broken--v1'} out" in message
    assert any(r.levelno == logging.ERROR and r.getMessage() == message for r in caplog.records)

    (tmp_path / "broken--v1").rename(tmp_path.parent / f"{tmp_path.name}-broken")  # as told
    reopened = EdgeVectorStore(tmp_path)
    try:
        found = [(c.spec.name, c.count) for c in reopened.list_collections()]
        assert found == [("fine--v1", 1)]
    finally:
        reopened.close()
