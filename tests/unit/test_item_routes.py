"""Every legal item id routes to the item endpoints, slashes and all, without a redirect."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from flask import Flask

from mmsearch.api.app import create_app
from mmsearch.infra.settings import Settings

IDS = ["/a/b", "a//b", "a/", "//", "%2F", "x/../y", "ünï/cødé ✓", "items:delete"]


@pytest.fixture()
def app(tmp_path: Path) -> Flask:
    return create_app(Settings(redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path))


@pytest.mark.parametrize("item_id", IDS)
@pytest.mark.parametrize(
    ("kind", "method", "endpoint"),
    [
        ("items", "GET", "get_item"),
        ("items", "PATCH", "patch_item"),
        ("items", "DELETE", "delete_item"),
        ("thumbnails", "GET", "thumbnail"),
        ("media", "GET", "media"),
    ],
)
def test_an_id_routes_to_its_item(
    app: Flask, item_id: str, kind: str, method: str, endpoint: str
) -> None:
    urls = app.url_map.bind("localhost")
    path = unquote(f"/v1/collections/c/{kind}/{quote(item_id, safe='')}")  # as WSGI gives it
    assert urls.match(path, method=method) == (endpoint, {"name": "c", "item_id": item_id})


def test_the_other_item_routes_keep_their_paths(app: Flask) -> None:
    urls = app.url_map.bind("localhost")
    assert urls.match("/v1/collections/c/items:delete", method="POST")[0] == "delete_items"
    assert urls.match("/v1/collections/c/duplicates", method="POST")[0] == "duplicates"
