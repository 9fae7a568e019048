"""Point ids and the payload layout: ids match those already on disk, payloads round-trip."""

from __future__ import annotations

import pytest

from mmsearch.infra.catalog.payload import (
    ItemPayload,
    metadata_field,
    metadata_key,
    metadata_update,
)
from mmsearch.infra.catalog.points import item_point_id, item_point_ids, point_id, scoped_id
from mmsearch.infra.catalog.versions import first_version, next_version
from mmsearch.infra.errors import BadFilter
from mmsearch.infra.vectors import CollectionSpec, IndexConfig
from mmsearch.workers.items import IngestItem

# Ids written by earlier releases: a change here would orphan every stored point.
STORED_IDS = [
    ("photos", "a.jpg", None, "86f0861a-c8cf-5c8a-a970-264f4eba4a48"),
    ("photos", "a.jpg", "acme", "6b3612a1-697b-514d-8c51-1070e157a0e4"),
    ("photos", "a.jpg", "other", "c845bb4d-1c43-5278-9f05-8704a5787e5c"),
    ("pics", "s3://bucket/x/y.png", None, "899ba248-441d-5085-bc19-67e83e2d28dc"),
]
V1 = first_version("photos", 4, "m", {}, IndexConfig())


@pytest.mark.parametrize(("namespace", "external_id", "tenant", "stored"), STORED_IDS)
def test_point_ids_are_the_ones_already_stored(
    namespace: str, external_id: str, tenant: str | None, stored: str
) -> None:
    assert point_id(namespace, scoped_id(external_id, tenant)) == stored
    unversioned = CollectionSpec(namespace, 4, "m")
    assert item_point_id(unversioned, external_id, tenant) == stored


def test_every_version_gives_an_item_the_same_id() -> None:
    v2 = next_version(V1, 1, 8, "other-model", IndexConfig())
    v3 = next_version(v2, 2, 8, "third-model", IndexConfig())
    assert {item_point_id(spec, "a.jpg", "acme") for spec in (V1, v2, v3)} == {STORED_IDS[1][3]}
    assert item_point_ids(v3, ["a.jpg", "a.jpg"], None) == [STORED_IDS[0][3]] * 2


def test_an_ingest_item_is_known_by_its_id_or_else_its_uri() -> None:
    named = IngestItem(uri="s3://b/other.jpg", id="a.jpg", tenant="acme")
    assert named.point_id(V1) == STORED_IDS[1][3]
    by_uri = IngestItem(uri="s3://bucket/x/y.png")
    pics = first_version("pics", 4, "m", {}, IndexConfig())
    assert by_uri.point_id(pics) == STORED_IDS[3][3]
    assert by_uri.payload().id == "s3://bucket/x/y.png"


def test_the_payload_layout() -> None:
    item = ItemPayload("s3://b/a.jpg", "a", {"album": "x"}, text="a cat", tenant="acme")
    stored = {
        "uri": "s3://b/a.jpg",
        "id": "a",
        "metadata": {"album": "x"},
        "text": "a cat",
        "tenant": "acme",
    }
    assert item.to_payload() == stored
    assert ItemPayload.from_payload(stored) == item
    bare = ItemPayload("s3://b/b.jpg", "b")
    assert bare.to_payload() == {"uri": "s3://b/b.jpg", "id": "b", "metadata": {}}
    assert ItemPayload.from_payload(bare.to_payload()) == bare


def test_payloads_without_an_id_fall_back() -> None:
    assert ItemPayload.from_payload({"uri": "s3://b/c.jpg"}, "point-1").id == "point-1"
    assert ItemPayload.from_payload({"uri": "s3://b/c.jpg"}).id == "s3://b/c.jpg"
    assert ItemPayload.from_payload({"id": 7}, "point-1").id == "7"
    assert ItemPayload.from_payload({}) == ItemPayload("", "")


def test_an_ingest_item_survives_a_round_trip_through_its_point() -> None:
    item = IngestItem(uri="s3://b/a.jpg", id="a", metadata={"k": [1, 2]}, text="t", tenant="x")
    stored = item.payload().to_payload()
    again = IngestItem.from_payload(ItemPayload.from_payload(stored))
    assert again == item
    assert IngestItem.from_dict(again.to_dict()) == item


def test_metadata_paths() -> None:
    assert metadata_key("camera.model") == "metadata.camera.model"
    assert metadata_field("metadata.tags[]") == "tags[]"
    assert metadata_field("tenant") is None
    for bad in ("a b", "../x", "", ".x"):
        with pytest.raises(BadFilter):
            metadata_key(bad)


def test_changing_metadata() -> None:
    item = ItemPayload("u", "i", {"a": 1})
    changed = item.with_metadata({"b": 2})
    assert (changed.metadata, item.metadata) == ({"b": 2}, {"a": 1})
    stored = item.to_payload()
    stored.update(metadata_update({"b": 2}))
    assert ItemPayload.from_payload(stored) == changed
