"""Symlinked paths through the running platform: a folder prefix-ingested through a link keeps
the uris and ids the user typed, so item reads, item_id queries and recommendations answer 200
on them and explicit items for the same paths are the same items; links out of the file root
are still refused, with a message that names the root and the way to send files from elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection, unique_name

# Below the album as the user reaches it through the `view` link.
LISTED = ["linked.jpg", "more/deep.jpg", "own.jpg"]


@pytest.fixture(scope="module")
def tree(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """base/album: own.jpg, linked.jpg → base/store/kept.jpg, more → base/extra (deep.jpg),
    out.jpg → a file outside the root, self → . ; base/view → album."""
    base = platform.media_root / unique_name("links")
    photos = generated_photos(3)
    outside = tmp_path_factory.mktemp("outside") / "secret.jpg"
    outside.write_bytes(photos[0].data)
    for folder in ("album", "store", "extra"):
        (base / folder).mkdir(parents=True)
    (base / "album" / "own.jpg").write_bytes(photos[0].data)
    (base / "store" / "kept.jpg").write_bytes(photos[1].data)
    (base / "extra" / "deep.jpg").write_bytes(photos[2].data)
    (base / "album" / "linked.jpg").symlink_to(base / "store" / "kept.jpg")
    (base / "album" / "more").symlink_to("../extra")
    (base / "album" / "out.jpg").symlink_to(outside)
    (base / "album" / "self").symlink_to(".")
    (base / "view").symlink_to("album")
    return {"view": base / "view", "outside": outside}


def item_path(collection: str, item_id: str) -> str:
    return f"/v1/collections/{collection}/items/{quote(item_id, safe='')}"


def test_a_prefix_through_a_link_keeps_the_uris_the_user_typed(
    platform: Platform, tiny_model: str, tree: dict[str, Any]
) -> None:
    view: Path = tree["view"]
    typed = [f"file://{view}/{name}" for name in LISTED]
    name = new_collection(platform, "links", tiny_model)
    job = platform.wait_job(platform.ingest(name, {"prefix": f"file://{view}/"}))
    assert (job["status"], job["total"], job["succeeded"]) == ("succeeded", 3, 3)
    hits = platform.search(name, {"text": "x", "limit": 10})["results"]
    assert sorted((h["id"], h["uri"]) for h in hits) == [(uri, uri) for uri in typed]
    for uri in typed:
        item = platform.expect(200, "GET", item_path(name, uri))
        assert (item["id"], item["uri"]) == (uri, uri)
        same = platform.search(name, {"item_id": uri, "limit": 1})["results"][0]
        assert same["id"] == uri and same["score"] > 0.999
    others = platform.search(name, {"recommend": {"positive": [typed[0]]}, "limit": 10})
    assert {h["id"] for h in others["results"]} == set(typed[1:])

    explicit = platform.wait_job(platform.ingest(name, {"items": [{"uri": u} for u in typed]}))
    assert explicit["succeeded"] == 3
    assert platform.expect(200, "GET", f"/v1/collections/{name}")["count"] == 3


def test_explicit_items_first_then_the_prefix_make_no_duplicates(
    platform: Platform, tiny_model: str, tree: dict[str, Any]
) -> None:
    view: Path = tree["view"]
    name = new_collection(platform, "links", tiny_model)
    items = [{"uri": file_uri(view / "own.jpg")}, {"uri": file_uri(view / "more" / "deep.jpg")}]
    assert platform.wait_job(platform.ingest(name, {"items": items}))["succeeded"] == 2
    assert platform.wait_job(platform.ingest(name, {"prefix": file_uri(view)}))["succeeded"] == 3
    assert platform.expect(200, "GET", f"/v1/collections/{name}")["count"] == 3


def test_a_link_out_of_the_root_is_refused_and_the_message_names_the_root(
    platform: Platform, tiny_model: str, tree: dict[str, Any]
) -> None:
    root = str(platform.media_root)
    name = new_collection(platform, "links", tiny_model)
    refused = [file_uri(tree["view"] / "out.jpg"), file_uri(tree["outside"])]
    job = platform.wait_job(platform.ingest(name, {"items": [{"uri": u} for u in refused]}))
    assert [e["code"] for e in job["errors"]] == ["forbidden_uri"] * 2
    for error in job["errors"]:
        assert root in error["message"] and "--upload s3://" in error["message"]
    for uri in refused:
        path = f"/v1/collections/{name}/search"
        response = platform.request("POST", path, json={"image": {"uri": uri}})
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "forbidden_uri"
        assert root in error["message"] and "--upload s3://" in error["message"]
