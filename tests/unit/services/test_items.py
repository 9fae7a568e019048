"""Items: read, change metadata, delete (by id, ids or filter), near-duplicate groups; each only
within the caller's tenant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mmsearch.api.schemas.queries import DuplicatesRequest, ItemPatch, ItemsDelete
from mmsearch.api.services.items import (
    delete_item,
    delete_items,
    find_duplicates,
    get_item,
    patch_item,
)
from mmsearch.infra.catalog.points import item_point_id
from mmsearch.infra.errors import BadFilter, InvalidRequest, ItemNotFound
from mmsearch.infra.vectors import CollectionSpec, EdgeVectorStore, VectorPoint
from tests.unit.services.conftest import AddPhotos

ODD = {"must": [{"key": "parity", "match": {"value": "odd"}}]}


@pytest.fixture()
def two_tenants(add_photos: AddPhotos, photos: CollectionSpec) -> CollectionSpec:
    """Items p1..p4 without a tenant, and items of the same ids for tenant `a`."""
    add_photos([1, 2, 3, 4])
    add_photos([1, 2, 3, 4], tenant="a")
    return photos


def _metadata(
    vectors: EdgeVectorStore, spec: CollectionSpec, item_id: str, tenant: str | None
) -> dict[str, Any]:
    [point] = vectors.retrieve(spec.name, [item_point_id(spec, item_id, tenant)])
    return point.payload["metadata"]


def test_an_item_is_read_within_its_tenant(
    vectors: EdgeVectorStore, two_tenants: CollectionSpec, file_root: Path
) -> None:
    item = get_item(vectors, "photos", "p1")
    assert (item.id, item.uri) == ("p1", f"file://{file_root}/p1.jpg")
    assert item.metadata == {"parity": "odd", "n": 1} and item.vectors == ["image"]
    assert get_item(vectors, "photos", "p1", "a").id == "p1"
    with pytest.raises(ItemNotFound):
        get_item(vectors, "photos", "p1", "b")
    with pytest.raises(ItemNotFound):
        get_item(vectors, "photos", "p9")


def test_patch_merges_or_replaces_the_metadata(
    vectors: EdgeVectorStore, two_tenants: CollectionSpec
) -> None:
    merged = patch_item(vectors, "photos", "p2", ItemPatch(metadata={"n": 20, "x": "y"}), "a")
    assert merged.metadata == {"parity": "even", "n": 20, "x": "y"}
    assert _metadata(vectors, two_tenants, "p2", "a") == merged.metadata
    assert _metadata(vectors, two_tenants, "p2", None) == {"parity": "even", "n": 2}
    replaced = patch_item(vectors, "photos", "p2", ItemPatch(metadata={"z": 1}, replace=True))
    assert replaced.metadata == {"z": 1} == _metadata(vectors, two_tenants, "p2", None)
    with pytest.raises(ItemNotFound):
        patch_item(vectors, "photos", "p2", ItemPatch(metadata={"n": 0}), "b")
    assert _metadata(vectors, two_tenants, "p2", "a")["n"] == 20


def test_patch_converts_to_the_declared_types_or_names_the_field(
    vectors: EdgeVectorStore, two_tenants: CollectionSpec
) -> None:
    point_id = item_point_id(two_tenants, "p3", None)
    vectors.set_payload("photos", [point_id], {"metadata": {"n": "3", "old": "x"}})  # untyped

    patched = patch_item(vectors, "photos", "p3", ItemPatch(metadata={"parity": 1}))

    assert patched.metadata == {"n": 3, "old": "x", "parity": "1"}
    assert _metadata(vectors, two_tenants, "p3", None) == patched.metadata
    with pytest.raises(InvalidRequest) as refused:
        patch_item(vectors, "photos", "p3", ItemPatch(metadata={"n": "3.5"}))
    assert refused.value.details == [{"field": "metadata.n", "message": str(refused.value)}]
    assert _metadata(vectors, two_tenants, "p3", None) == patched.metadata


def test_delete_one_item(vectors: EdgeVectorStore, two_tenants: CollectionSpec) -> None:
    with pytest.raises(ItemNotFound):
        delete_item(vectors, "photos", "p1", "b")
    assert delete_item(vectors, "photos", "p1", "a").deleted == 1
    with pytest.raises(ItemNotFound):
        delete_item(vectors, "photos", "p1", "a")
    assert get_item(vectors, "photos", "p1").id == "p1"  # the same id outside the tenant stays
    assert vectors.count("photos") == 7


def test_delete_by_ids_or_filter_within_the_tenant(
    vectors: EdgeVectorStore, two_tenants: CollectionSpec
) -> None:
    by_ids = ItemsDelete(ids=["p1", "p2", "p9"])
    assert delete_items(vectors, "photos", by_ids, "b").deleted == 0
    assert delete_items(vectors, "photos", by_ids, "a").deleted == 2
    assert delete_items(vectors, "photos", ItemsDelete(filter=ODD), "a").deleted == 1  # p3
    left = {(p.payload["id"], p.payload.get("tenant")) for p in _all(vectors)}
    assert left == {("p1", None), ("p2", None), ("p3", None), ("p4", None), ("p4", "a")}
    assert delete_items(vectors, "photos", ItemsDelete(filter=ODD)).deleted == 2  # p1, p3
    with pytest.raises(BadFilter):
        delete_items(vectors, "photos", ItemsDelete(filter={"must": [{"key": "x"}]}))
    assert vectors.count("photos") == 3


def _all(vectors: EdgeVectorStore) -> list[VectorPoint]:
    points, cursor = vectors.scroll("photos", limit=100)
    assert cursor is None
    return points


def test_duplicates_are_grouped_within_the_tenant(
    vectors: EdgeVectorStore, add_photos: AddPhotos
) -> None:
    add_photos([1, 2, 3, 4])
    add_photos([1, 3], prefix="copy")  # the same pictures under other ids
    add_photos([2], tenant="a")
    add_photos([2], tenant="a", prefix="copy")
    found = find_duplicates(vectors, "photos", DuplicatesRequest(threshold=0.999))
    groups = [sorted(item.id for item in group.items) for group in found.groups]
    # No tenant sees every item: tenant a's p2 and copy2 join the other p2.
    assert sorted(groups) == [["copy1", "p1"], ["copy2", "p2", "p2"], ["copy3", "p3"]]
    assert found.scanned == 8
    assert all(item.score > 0.999 for group in found.groups for item in group.items)
    own = find_duplicates(vectors, "photos", DuplicatesRequest(threshold=0.999), "a")
    assert [sorted(i.id for i in g.items) for g in own.groups] == [["copy2", "p2"]]
    assert own.scanned == 2
    odd = find_duplicates(vectors, "photos", DuplicatesRequest(threshold=0.999, filter=ODD))
    assert sorted(sorted(i.id for i in g.items) for g in odd.groups) == [
        ["copy1", "p1"],
        ["copy3", "p3"],
    ]
