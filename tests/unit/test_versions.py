"""Collection versions: naming, order, listing, and specs stored by earlier releases."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from qdrant_client import QdrantClient, models

from mmsearch.infra.catalog.versions import (
    first_version,
    is_active,
    is_listed,
    is_same_collection,
    metadata_fields,
    next_version,
    public_name,
    version_name,
    version_number,
    versions_of,
)
from mmsearch.infra.vectors import (
    CollectionSpec,
    EdgeVectorStore,
    FieldType,
    IndexConfig,
    QdrantServerStore,
)
from mmsearch.infra.vectors.checks import spec_from_json, spec_to_json
from mmsearch.infra.vectors.types import LEGACY_INDEX

SCHEMA = {"metadata.album": FieldType.KEYWORD, "tenant": FieldType.KEYWORD}

# As the previous release stored it (a file per collection, or the server's collection metadata).
OLD_SPEC = """{"name": "photos--v2", "dim": 512, "model": "ViT-B-32/openai",
 "payload_schema": {"metadata.album": "keyword", "tenant": "keyword"},
 "extra": {"id_namespace": "photos", "public_name": "photos", "version": 2},
 "index": {"m": 32, "ef_construct": 256, "hnsw_ef": 512, "quantization": "int8",
           "indexing_threshold": 10000}}"""
OLD_SPEC_LOADED = CollectionSpec(
    "photos--v2",
    512,
    "ViT-B-32/openai",
    SCHEMA,
    IndexConfig(),
    public_name="photos",
    version=2,
    id_namespace="photos",
)
OLDEST_SPEC = '{"name": "legacy", "dim": 8, "model": "m", "payload_schema": {}, "extra": {}}'


def test_version_names() -> None:
    assert version_name("photos", 3) == "photos--v3"
    assert version_number("photos--v12") == 12
    assert version_number("my--v-thing") == 0
    assert version_number("photos") == 0


def test_first_and_next_versions() -> None:
    fields = {"album": FieldType.KEYWORD}
    v1 = first_version("photos", 512, "a", fields, IndexConfig())
    # the tenant is indexed too, the video a frame belongs to, and a synced item's source and
    # the sync that last saw it
    keyword = FieldType.KEYWORD
    indexed = {"video.id": keyword, "source.id": keyword, "sync": keyword}
    assert v1.payload_schema == {**SCHEMA, **indexed}
    assert metadata_fields(v1) == fields
    assert (v1.name, v1.public_name, v1.version, v1.id_namespace) == (
        "photos--v1",
        "photos",
        1,
        "photos",
    )
    index = IndexConfig(m=16)
    v5 = next_version(v1, 4, 768, "b", index)
    assert (v5.name, v5.public_name, v5.version, v5.id_namespace) == (
        "photos--v5",
        "photos",
        5,
        "photos",
    )
    assert (v5.dim, v5.model, v5.index, v5.payload_schema) == (768, "b", index, v1.payload_schema)
    assert v5.payload_schema is not v1.payload_schema


def test_versions_in_order_and_what_a_listing_shows() -> None:
    v1 = first_version("photos", 4, "a", {}, IndexConfig())
    v2 = next_version(v1, 1, 4, "b", IndexConfig())
    v10 = next_version(v2, 9, 4, "c", IndexConfig())
    other = first_version("pets", 4, "a", {}, IndexConfig())
    plain = CollectionSpec("scratch", 4, "a")
    specs = [v10, other, plain, v2, v1]
    assert [s.name for s in versions_of("photos", specs)] == [v1.name, v2.name, v10.name]
    assert [s.name for s in versions_of("scratch", specs)] == ["scratch"]
    aliases = {"photos": v2.name, "pets": other.name}
    assert [s.name for s in specs if is_listed(s, aliases)] == [other.name, "scratch", v2.name]
    assert is_active(v2, aliases) and not is_active(v10, aliases)
    assert public_name(v10) == "photos" and public_name(plain) == "scratch"


def test_a_job_may_write_only_to_the_collection_it_was_created_for() -> None:
    v1 = first_version("photos", 4, "a", {}, IndexConfig())
    v2 = next_version(v1, 1, 4, "b", IndexConfig())
    reborn = first_version("photos", 4, "a", {}, IndexConfig())
    other = first_version("pets", 4, "a", {}, IndexConfig())
    incarnations = {v1.incarnation, v2.incarnation, reborn.incarnation, other.incarnation}
    assert None not in incarnations and len(incarnations) == 4
    bound = v1.incarnation

    def never() -> list[CollectionSpec]:
        raise AssertionError("listed though the incarnations match")

    assert is_same_collection(bound, v1, never)
    assert is_same_collection(None, reborn, never)  # a job of an earlier release
    assert is_same_collection(bound, v2, lambda: [v1, v2])  # the alias moved to a new version
    assert not is_same_collection(bound, reborn, lambda: [reborn])  # deleted, made again
    assert not is_same_collection(bound, other, lambda: [v1, other])  # another collection
    assert not is_same_collection(bound, CollectionSpec("photos", 4, "a"), lambda: [])


def test_a_spec_stored_by_the_previous_release_loads() -> None:
    assert spec_from_json(json.loads(OLD_SPEC)) == OLD_SPEC_LOADED
    oldest = spec_from_json(json.loads(OLDEST_SPEC))
    assert oldest == CollectionSpec("legacy", 8, "m", index=LEGACY_INDEX)


def test_specs_are_written_in_the_new_form() -> None:
    v1 = first_version("photos", 4, "a", {"album": FieldType.KEYWORD}, IndexConfig())
    spec = next_version(v1, 1, 4, "b", LEGACY_INDEX)
    stored = json.loads(json.dumps(spec_to_json(spec)))
    # The previous release read the versions from "extra" alone: it must still find them there.
    assert stored["extra"] == {"public_name": "photos", "version": 2, "id_namespace": "photos"}
    assert (stored["public_name"], stored["version"], stored["id_namespace"]) == (
        "photos",
        2,
        "photos",
    )
    assert spec_from_json(stored) == spec
    assert stored["incarnation"] == spec.incarnation is not None
    plain = CollectionSpec("scratch", 4, "a")
    assert spec_from_json(json.loads(json.dumps(spec_to_json(plain)))) == plain
    assert spec_from_json(spec_to_json(replace(plain, version=3))).version == 3


def test_both_stores_keep_a_collections_incarnation(tmp_path: Path) -> None:
    spec = first_version("photos", 4, "a", {}, IndexConfig())
    edge = EdgeVectorStore(tmp_path)
    edge.create_collection(spec)
    edge.close()
    reopened = EdgeVectorStore(tmp_path)
    assert reopened.spec(spec.name).incarnation == spec.incarnation is not None
    reopened.close()
    server = QdrantServerStore(QdrantClient(location=":memory:"))
    server.create_collection(spec)
    assert server.spec(spec.name).incarnation == spec.incarnation


def test_both_stores_load_collections_of_the_previous_release(tmp_path: Path) -> None:
    expected = OLD_SPEC_LOADED
    edge = EdgeVectorStore(tmp_path)
    edge.create_collection(expected)
    edge.close()
    (stored,) = tmp_path.rglob("collection.json")
    stored.write_text(OLD_SPEC, "utf-8")
    edge = EdgeVectorStore(tmp_path)
    assert edge.spec("photos--v2") == expected
    edge.close()

    client = QdrantClient(location=":memory:")
    vectors = models.VectorParams(size=512, distance=models.Distance.COSINE)
    client.create_collection(
        "photos--v2",
        vectors_config={"image": vectors, "text": vectors},
        metadata={"mmsearch": json.loads(OLD_SPEC)},
    )
    assert QdrantServerStore(client).spec("photos--v2") == expected
