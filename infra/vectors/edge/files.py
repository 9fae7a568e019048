"""Files of the embedded store: the folder lock, collection folders, synced JSON, shard config."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

import qdrant_edge as qe

from mmsearch.infra.errors import Unavailable
from mmsearch.infra.vectors.checks import spec_from_json, spec_to_json
from mmsearch.infra.vectors.types import (
    KEYWORD_VECTOR,
    VECTOR_NAMES,
    CollectionSpec,
    FieldType,
    IndexConfig,
)

LOCK_FILE = ".lock"
SPEC_FILE = "collection.json"
SHARD_DIR = "shard"

KEYWORD_PARAMS = qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)

_INDEX_TYPES = {
    FieldType.KEYWORD: qe.PayloadSchemaType.Keyword,
    FieldType.INTEGER: qe.PayloadSchemaType.Integer,
    FieldType.FLOAT: qe.PayloadSchemaType.Float,
    FieldType.BOOL: qe.PayloadSchemaType.Bool,
    FieldType.DATETIME: qe.PayloadSchemaType.Datetime,
    FieldType.TEXT: qe.PayloadSchemaType.Text,
}


def shard_config(spec: CollectionSpec, max_segments: int, max_segment_points: int) -> qe.EdgeConfig:
    """Named cosine vectors (and the IDF-weighted keyword vector where the spec has one), the
    collection's HNSW / quantization settings, and optimizer thresholds (`index` and the
    segment bounds count points; the engine takes KB)."""
    dim, index = spec.dim, spec.index

    def kb(points: int) -> int:
        return max(1, points * dim * 4 // 1024)

    optimizers = qe.EdgeOptimizersConfig(
        indexing_threshold=kb(index.indexing_threshold),
        default_segment_number=max_segments,
        max_segment_size=kb(max_segment_points),
    )
    hnsw = qe.HnswIndexConfig(
        m=index.m,
        ef_construct=index.ef_construct,
        full_scan_threshold=kb(index.indexing_threshold),
    )
    quant = None
    if index.quantization == "int8":
        quant = qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, always_ram=True)
    cosine = qe.Distance.Cosine
    vectors = {n: qe.EdgeVectorParams(size=dim, distance=cosine) for n in VECTOR_NAMES}
    sparse = {KEYWORD_VECTOR: KEYWORD_PARAMS} if spec.keyword else None
    return qe.EdgeConfig(
        vectors=vectors,
        sparse_vectors=sparse,
        optimizers=optimizers,
        hnsw_config=hnsw,
        quantization_config=quant,
    )


def search_params(index: IndexConfig) -> qe.SearchParams:
    """Search breadth, plus rescoring (2x oversampled) when vectors are quantized."""
    if index.quantization is None:
        return qe.SearchParams(hnsw_ef=index.hnsw_ef)
    rescore = qe.QuantizationSearchParams(rescore=True, oversampling=2.0)
    return qe.SearchParams(hnsw_ef=index.hnsw_ef, quantization=rescore)


def build_collection(target: Path, spec: CollectionSpec, config: qe.EdgeConfig) -> None:
    """Create the folder `target` (spec file, empty shard with its payload indexes) atomically.

    It is built in ``.tmp-*`` next to `target` and renamed into place, so a crash leaves no
    half collection; the shard is closed again (the store reopens it at its final path).
    """
    folder = target.parent
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{spec.name}-", dir=folder))
    try:
        shard = qe.EdgeShard.create(str(tmp / SHARD_DIR), config)
        for key, kind in spec.payload_schema.items():
            shard.update(qe.UpdateOperation.create_field_index(key, _INDEX_TYPES[kind]))
        shard.flush()
        shard.close()  # reopened at its final path
        write_json(tmp / SPEC_FILE, spec_to_json(spec))
        os.rename(tmp, target)
        fsync_dir(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_spec(folder: Path, spec: CollectionSpec) -> None:
    """Replace the spec stored in a collection folder, atomically."""
    tmp = folder / f".{SPEC_FILE}.tmp"
    write_json(tmp, spec_to_json(spec))
    os.replace(tmp, folder / SPEC_FILE)
    fsync_dir(folder)


def read_spec(folder: Path) -> CollectionSpec:
    """The spec stored in a collection folder."""
    return spec_from_json(json.loads((folder / SPEC_FILE).read_text("utf-8")))


def lock_folder(path: Path) -> IO[str]:
    """Hold an exclusive lock on the folder for the store's lifetime; Unavailable if taken."""
    handle = open(path / LOCK_FILE, "a+")  # held open (and locked) for the store's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        message = f"the embedded vector store {path} is in use by another process"
        raise Unavailable(message) from None
    return handle


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write and fsync JSON (it is made visible atomically by renaming its folder)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    """Make a rename or creation inside `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
