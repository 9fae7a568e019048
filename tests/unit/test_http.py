"""The endpoint table is the app: every Flask rule comes from it, the OpenAPI document describes
the same routes, and each request needs the key scope the table declares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from mmsearch.api.app import create_app
from mmsearch.api.http import BY_NAME, ENDPOINTS, Endpoint, Scope
from mmsearch.api.openapi import build_openapi
from mmsearch.infra.api_keys import SCOPES, entry_for, new_key
from mmsearch.infra.settings import Settings

KEYS = {scope: new_key() for scope in SCOPES}


@pytest.fixture()
def app(tmp_path: Path) -> Flask:
    entries = [entry_for(key, scope) for scope, key in KEYS.items()]
    settings = Settings(redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path, api_keys=entries)
    return create_app(settings)


def _url(endpoint: Endpoint) -> str:
    return re.sub(r"\{[^}]+\}", "x", endpoint.openapi_path)


def test_every_flask_rule_is_an_endpoint_of_the_table(app: Flask) -> None:
    assert len(BY_NAME) == len(ENDPOINTS), "two endpoints share a handler name"
    registered = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        endpoint = BY_NAME.get(rule.endpoint)
        assert endpoint is not None, f"{rule.rule} is not in the endpoint table"
        assert isinstance(endpoint.scope, Scope)
        assert rule.rule == endpoint.rule and endpoint.method in (rule.methods or ())
        registered.add(rule.endpoint)
    assert registered == set(BY_NAME)


def test_document_parameters_are_the_rules_arguments(app: Flask) -> None:
    paths = build_openapi()["paths"]
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        endpoint = BY_NAME[rule.endpoint]
        operation = paths[endpoint.openapi_path][endpoint.method.lower()]
        documented = [p["name"] for p in operation.get("parameters", [])]
        assert sorted(documented) == sorted(rule.arguments), rule.rule


def test_each_request_needs_the_scope_the_table_declares(app: Flask) -> None:
    client = app.test_client()
    for endpoint in ENDPOINTS:
        url, method = _url(endpoint), endpoint.method
        anonymous = client.open(url, method=method)
        if endpoint.scope is Scope.OPEN:
            assert anonymous.status_code not in (401, 403), url
            continue
        assert anonymous.status_code == 401, (method, url)
        for scope, key in KEYS.items():
            response = client.open(url, method=method, headers={"Authorization": f"Bearer {key}"})
            if SCOPES.index(scope) >= SCOPES.index(endpoint.scope):
                assert response.status_code not in (401, 403), (scope, method, url)
            else:
                assert response.status_code == 403, (scope, method, url)
                assert response.json is not None and response.json["error"]["code"] == "forbidden"


def test_static_files_are_open_and_unknown_paths_need_a_key(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/static/docs.js").status_code == 200
    assert client.get("/v1/no-such-route").status_code == 401
    read = {"X-API-Key": KEYS["read"]}
    assert client.get("/v1/no-such-route", headers=read).status_code == 404
    assert client.post("/healthz").status_code == 405  # an open path: its 405 needs no key


def test_a_route_missing_from_the_table_is_refused(app: Flask) -> None:
    app.add_url_rule("/v1/undeclared", "undeclared", lambda: "reached")
    response = app.test_client().get("/v1/undeclared", headers={"X-API-Key": KEYS["admin"]})
    assert response.status_code == 500 and b"reached" not in response.data


# What each endpoint asks of a key: a change here is a change to the API's security contract.
EXPECTED_SCOPES = {
    ("POST", "/v1/collections"): "admin",
    ("GET", "/v1/collections"): "read",
    ("GET", "/v1/collections/{name}"): "read",
    ("DELETE", "/v1/collections/{name}"): "admin",
    ("GET", "/v1/collections/{name}/versions"): "read",
    ("POST", "/v1/collections/{name}/reembed"): "admin",
    ("POST", "/v1/collections/{name}/keyword"): "admin",
    ("POST", "/v1/collections/{name}/ingest"): "write",
    ("POST", "/v1/collections/{name}/sources"): "write",
    ("GET", "/v1/collections/{name}/sources"): "read",
    ("GET", "/v1/collections/{name}/sources/{source_id}"): "read",
    ("DELETE", "/v1/collections/{name}/sources/{source_id}"): "write",
    ("POST", "/v1/collections/{name}/sources/{source_id}/sync"): "write",
    ("GET", "/v1/jobs"): "read",
    ("GET", "/v1/jobs/{job_id}"): "read",
    ("DELETE", "/v1/jobs/{job_id}"): "write",
    ("POST", "/v1/jobs/{job_id}/retry"): "write",
    ("POST", "/v1/collections/{name}/search"): "read",
    ("POST", "/v1/search"): "read",
    ("POST", "/v1/classify"): "read",
    ("GET", "/v1/collections/{name}/items/{item_id}"): "read",
    ("GET", "/v1/collections/{name}/thumbnails/{item_id}"): "read",
    ("GET", "/v1/collections/{name}/media/{item_id}"): "read",
    ("POST", "/v1/collections/{name}/media-links"): "read",
    ("PATCH", "/v1/collections/{name}/items/{item_id}"): "write",
    ("DELETE", "/v1/collections/{name}/items/{item_id}"): "write",
    ("POST", "/v1/collections/{name}/items:delete"): "write",
    ("POST", "/v1/collections/{name}/duplicates"): "read",
    ("GET", "/v1/collections/{name}/points"): "read",
    ("POST", "/v1/collections/{name}/points"): "write",
    ("GET", "/"): "open",
    ("GET", "/docs"): "open",
    ("GET", "/openapi.json"): "open",
    ("GET", "/metrics"): "open",
    ("GET", "/healthz"): "open",
    ("GET", "/readyz"): "open",
}


def test_scopes_are_the_published_ones() -> None:
    declared = {(e.method, e.openapi_path): str(e.scope) for e in ENDPOINTS}
    assert declared == EXPECTED_SCOPES
