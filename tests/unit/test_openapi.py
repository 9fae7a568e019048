"""The OpenAPI document is valid and covers exactly the app's routes."""

from __future__ import annotations

import re
from pathlib import Path

from openapi_spec_validator import validate

from mmsearch.api.app import create_app
from mmsearch.api.openapi import build_openapi
from mmsearch.api.openapi_examples import EXAMPLES, SEARCH_EXAMPLES
from mmsearch.api.schemas.queries import SearchRequest
from mmsearch.infra.settings import Settings


def test_document_is_valid_openapi() -> None:
    validate(build_openapi())  # type: ignore[arg-type]


def test_document_covers_every_route(tmp_path: Path) -> None:
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path))
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method.lower(), path))
    documented = {
        (method, path) for path, ops in build_openapi()["paths"].items() for method in ops
    }
    assert documented == routes


def test_every_search_example_is_a_valid_request() -> None:
    for example in SEARCH_EXAMPLES.values():
        SearchRequest.model_validate(example["value"])


def test_every_endpoint_has_examples_that_fit_its_schemas() -> None:
    document = build_openapi()
    for path, operations in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                assert "example" in body or "examples" in body, (method, path)
            ok = next(v for k, v in operation["responses"].items() if k.startswith("2"))
            assert any("example" in c for c in ok["content"].values()), (method, path)
    for model, example in EXAMPLES.items():
        model.model_validate(example)


def test_docs_page_is_served_from_the_apps_own_files(tmp_path: Path) -> None:
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path))
    client = app.test_client()
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/") for a in assets)  # no CDN
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200 and len(served.get_data()) > 20, asset
    assert "/openapi.json" in client.get("/static/docs.js").get_data(as_text=True)
