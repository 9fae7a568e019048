"""A collection's IndexConfig and payload indexes in the Qdrant server's terms."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from qdrant_client import models

from mmsearch.infra.catalog.payload import TENANT_FIELD
from mmsearch.infra.vectors.types import CollectionSpec, FieldType, IndexConfig


def search_params(index: IndexConfig) -> models.SearchParams:
    """Search breadth, plus rescoring (2x oversampled) when vectors are quantized."""
    rescore = None
    if index.quantization is not None:
        rescore = models.QuantizationSearchParams(rescore=True, oversampling=2.0)
    return models.SearchParams(hnsw_ef=index.hnsw_ef, quantization=rescore)


def index_config(spec: CollectionSpec) -> dict[str, Any]:
    """create_collection's HNSW, optimizer, quantization and cluster arguments for `spec`."""
    index = spec.index
    kb = threshold_kb(spec)
    quantization = None
    if index.quantization == "int8":
        scalar = models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
        quantization = models.ScalarQuantization(scalar=scalar)
    return {
        "hnsw_config": models.HnswConfigDiff(
            m=index.m, ef_construct=index.ef_construct, full_scan_threshold=kb
        ),
        "optimizers_config": optimizers_config(spec),
        "quantization_config": quantization,
        **asdict(spec.cluster),  # shard_number, replication_factor, write_consistency_factor
    }


def threshold_kb(spec: CollectionSpec) -> int:
    """The indexing threshold in the KB of vectors the server counts."""
    return max(1, spec.index.indexing_threshold * spec.dim * 4 // 1024)


def optimizers_config(spec: CollectionSpec, deferred: bool = False) -> models.OptimizersConfigDiff:
    """The optimizer settings of `spec`; `deferred`: build no HNSW graph (0 turns indexing off,
    the server's advice for a bulk load), until they are set back."""
    return models.OptimizersConfigDiff(indexing_threshold=0 if deferred else threshold_kb(spec))


INDEX_TYPES = {
    FieldType.KEYWORD: models.PayloadSchemaType.KEYWORD,
    FieldType.INTEGER: models.PayloadSchemaType.INTEGER,
    FieldType.FLOAT: models.PayloadSchemaType.FLOAT,
    FieldType.BOOL: models.PayloadSchemaType.BOOL,
    FieldType.DATETIME: models.PayloadSchemaType.DATETIME,
    FieldType.TEXT: models.PayloadSchemaType.TEXT,
}


def field_schema(key: str, kind: FieldType) -> Any:
    """The payload index for a declared field; the tenant field is Qdrant's tenant index."""
    if key == TENANT_FIELD and kind == FieldType.KEYWORD:
        return models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
    return INDEX_TYPES[kind]
