"""Index settings: validation, storage in the spec, and their translation for each engine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from qdrant_client import models

from mmsearch.infra.errors import InvalidRequest
from mmsearch.infra.vectors import CollectionSpec, EdgeVectorStore, IndexConfig
from mmsearch.infra.vectors.checks import check_spec, spec_from_json, spec_to_json
from mmsearch.infra.vectors.edge.files import search_params as edge_search_params
from mmsearch.infra.vectors.qdrant.index import index_config, search_params
from mmsearch.infra.vectors.types import LEGACY_INDEX

SPEC = CollectionSpec("photos", 512, "m", index=IndexConfig(m=24, hnsw_ef=300))


def test_the_spec_keeps_its_index_settings() -> None:
    assert spec_from_json(spec_to_json(SPEC)) == SPEC
    old = spec_to_json(SPEC)
    del old["index"]  # written before index settings were stored: the engine defaults it got
    assert spec_from_json(old).index == LEGACY_INDEX


@pytest.mark.parametrize(
    "bad",
    [{"m": 2}, {"ef_construct": 0}, {"hnsw_ef": 10_000}, {"quantization": "pq"}, {"m": 1.5}],
)
def test_bad_index_settings_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest, match=f"index.{next(iter(bad))}"):
        check_spec(replace(SPEC, index=replace(IndexConfig(), **bad)))  # type: ignore[arg-type]


def test_server_collections_get_the_settings() -> None:
    kwargs = index_config(SPEC)
    assert kwargs["hnsw_config"] == models.HnswConfigDiff(
        m=24, ef_construct=256, full_scan_threshold=10_000 * 512 * 4 // 1024
    )
    assert kwargs["optimizers_config"].indexing_threshold == 20_000  # KB of 10k 512-d vectors
    scalar = kwargs["quantization_config"].scalar
    assert scalar.type == models.ScalarType.INT8 and scalar.always_ram
    params = search_params(SPEC.index)
    assert params.hnsw_ef == 300 and params.quantization is not None
    assert params.quantization.rescore and params.quantization.oversampling == 2.0
    plain = replace(SPEC, index=IndexConfig(quantization=None))
    assert index_config(plain)["quantization_config"] is None
    assert search_params(plain.index).quantization is None


def test_edge_collections_get_the_settings(tmp_path: Path) -> None:
    store = EdgeVectorStore(tmp_path)
    store.create_collection(SPEC)
    config = store._config(SPEC)  # what the shard is created and loaded with
    assert config.hnsw_config.m == 24 and config.hnsw_config.ef_construct == 256
    assert config.optimizers.indexing_threshold == 20_000
    assert config.quantization_config is not None
    assert store._collections.by_name[SPEC.name].params.hnsw_ef == 300
    assert edge_search_params(SPEC.index).quantization is not None
    plain = replace(SPEC, index=IndexConfig(quantization=None))
    assert store._config(plain).quantization_config is None
    store.close()
    reopened = EdgeVectorStore(tmp_path)
    assert reopened.get_collection(SPEC.name).spec == SPEC
    reopened.close()


def test_the_tenant_field_is_the_servers_tenant_index() -> None:
    from qdrant_client import models

    from mmsearch.infra.catalog.tenancy import TENANT_FIELD
    from mmsearch.infra.vectors import FieldType
    from mmsearch.infra.vectors.qdrant.index import field_schema

    tenant = field_schema(TENANT_FIELD, FieldType.KEYWORD)
    assert isinstance(tenant, models.KeywordIndexParams) and tenant.is_tenant
    assert field_schema("metadata.tenant", FieldType.KEYWORD) == models.PayloadSchemaType.KEYWORD
