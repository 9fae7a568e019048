"""Copying the embedded engine's collections into a Qdrant server (qdrant-client local mode
stands in for the server): the same answers after, counts checked, re-runnable, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from mmsearch.infra.catalog.payload import TENANT_FIELD
from mmsearch.infra.errors import CountMismatch, SpecMismatch
from mmsearch.infra.vectors import EdgeVectorStore, FieldType, IndexConfig, QdrantServerStore
from mmsearch.infra.vectors.transfer import (
    MAX_BYTES,
    MAX_POINTS,
    chosen_specs,
    copy_aliases,
    copy_collection,
    point_batches,
    request_batches,
    write_parallel,
)
from mmsearch.infra.vectors.types import VectorPoint
from tests.fixtures.vectors import FILTERS, SPEC, assert_same_hits, make_points, queries

# qdrant-client's local mode serves one request at a time (a server takes STREAMS at once)
STREAMS = 1
# As the platform names them: versions behind a public alias, graphs built every 100 points.
V1 = replace(
    SPEC,
    name="photos--v1",
    payload_schema={**SPEC.payload_schema, TENANT_FIELD: FieldType.KEYWORD},
    index=IndexConfig(indexing_threshold=100),
)
V2 = replace(V1, name="photos--v2", version=2, index=IndexConfig(quantization=None))
OTHER = replace(SPEC, name="notes", public_name=None, version=None)
POINTS = make_points(500)


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[EdgeVectorStore]:
    store = EdgeVectorStore(tmp_path / "edge")
    for spec, points in ((V1, POINTS), (V2, POINTS[:120]), (OTHER, POINTS[:30])):
        store.create_collection(spec)
        for start in range(0, len(points), 64):
            store.upsert(spec.name, points[start : start + 64])
    store.set_alias("photos", V1.name)
    yield store
    store.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[QdrantServerStore]:
    store = QdrantServerStore(QdrantClient(path=str(tmp_path / "server")))
    yield store
    store.close()


def migrate(edge: EdgeVectorStore, server: QdrantServerStore) -> dict[str, int]:
    specs = chosen_specs(edge, None)
    copied = {s.name: copy_collection(edge, server, s, STREAMS).count for s in specs}
    copy_aliases(edge, server, set(copied))
    return copied


def test_the_server_answers_as_the_embedded_engine_did(
    edge: EdgeVectorStore, server: QdrantServerStore
) -> None:
    copied = migrate(edge, server)
    assert copied == {V1.name: 500, V2.name: 120, OTHER.name: 30}
    assert server.list_aliases() == {"photos": V1.name}
    assert server.list_specs() == edge.list_specs()
    for i, q in enumerate(queries()):
        for using in ("image", "text"):
            for flt in (None, *FILTERS.values()):
                args = {"using": using, "filter": flt, "limit": 10}
                assert_same_hits(
                    edge.search("photos", q, **args), server.search("photos", q, **args), str(flt)
                )
        if i == 0:
            continue  # tied points rank in the engine's own order in a fused search
        vectors = {"image": q, "text": q}
        assert_same_hits(
            edge.search_hybrid("photos", vectors), server.search_hybrid("photos", vectors)
        )
    page, _ = server.scroll(V1.name, limit=5, with_vectors=True)
    originals = edge.retrieve(V1.name, [p.id for p in page], with_vectors=True)
    for point, original in zip(page, originals, strict=True):
        assert point.payload == original.payload
        for name, vector in original.vectors.items():
            np.testing.assert_allclose(point.vectors[name], vector, atol=1e-6)


def test_running_it_again_changes_nothing(edge: EdgeVectorStore, server: QdrantServerStore) -> None:
    first = migrate(edge, server)
    written: list[int] = []
    again = copy_collection(edge, server, V1, STREAMS, written.append)
    assert again.count == first[V1.name] == server.count("photos") == 500
    assert sum(written) == 500 and max(written) <= MAX_POINTS
    assert migrate(edge, server) == first


def test_a_target_collection_with_other_settings_is_refused(
    edge: EdgeVectorStore, server: QdrantServerStore
) -> None:
    server.create_collection(replace(V1, index=IndexConfig(m=8)))
    with pytest.raises(SpecMismatch, match="photos--v1"):
        copy_collection(edge, server, V1, STREAMS)
    assert server.count(V1.name) == 0


def test_counts_that_differ_after_the_copy_are_reported(
    edge: EdgeVectorStore, server: QdrantServerStore
) -> None:
    server.create_collection(OTHER)
    stray = make_points(40)[35]  # not among the 30 the source holds
    server.upsert(OTHER.name, [stray])
    with pytest.raises(CountMismatch) as refused:
        copy_collection(edge, server, OTHER, STREAMS)
    assert refused.value.details == {"collection": "notes", "source": 30, "target": 31}


def test_collections_are_chosen_by_public_or_own_name(edge: EdgeVectorStore) -> None:
    assert [s.name for s in chosen_specs(edge, ["photos"])] == [V1.name, V2.name]
    assert [s.name for s in chosen_specs(edge, ["notes", V2.name])] == [OTHER.name, V2.name]


def test_requests_stay_within_the_bulk_upload_bounds() -> None:
    dim = 1536  # two 1536-d vectors a point: 256 of them would pass 5 MB as JSON
    rng = np.random.default_rng(1)
    points = [
        VectorPoint(str(i), {"image": rng.random(dim), "text": rng.random(dim)}, {"uri": "x"})
        for i in range(600)
    ]
    batches = list(request_batches(points))
    assert [p for b in batches for p in b] == points
    for batch in batches:
        body = sum(len(str(float(x))) + 1 for p in batch for v in p.vectors.values() for x in v)
        assert len(batch) <= MAX_POINTS and body < MAX_BYTES
    assert len(batches[0]) < MAX_POINTS
    small = [VectorPoint(str(i), {"image": rng.random(8)}, {}) for i in range(600)]
    assert [len(b) for b in request_batches(small)] == [256, 256, 88]


def test_parallel_streams_write_every_batch_once(edge: EdgeVectorStore, tmp_path: Path) -> None:
    copy = EdgeVectorStore(tmp_path / "copy")  # an engine that takes concurrent writes
    copy.create_collection(V1)
    written: list[int] = []

    def write(batch: list[VectorPoint]) -> None:
        copy.upsert(V1.name, batch)

    write_parallel(write, point_batches(edge, V1.name), streams=4, progress=written.append)
    assert copy.count(V1.name) == 500 and sorted(written) == sorted([256, 244])
    ids = [p.id for p in copy.scroll(V1.name, limit=500)[0]]
    assert ids == [p.id for p in edge.scroll(V1.name, limit=500)[0]]
    copy.close()
