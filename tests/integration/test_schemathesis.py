"""Schemathesis against the app's own OpenAPI document: generated requests never get a 5xx.

The app serves real HTTP (waitress) in-process, on the real Redis (a database of its own, so no
worker takes its tasks) and the embedded engine, with one collection requests may hit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from waitress.server import create_server

from mmsearch.api.app import create_app
from mmsearch.api.openapi import build_openapi
from mmsearch.infra.settings import Settings

schema = schemathesis.openapi.from_dict(build_openapi())


@pytest.fixture(scope="module")
def base_url(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, tiny_model: str
) -> Iterator[Any]:
    url = redis_url.rsplit("/", 1)[0] + "/6"
    redis.Redis.from_url(url).flushdb()
    settings_ = Settings(
        redis_url=url, data_dir=tmp_path_factory.mktemp("fuzz"), default_model=tiny_model
    )
    app = create_app(settings_)
    client = app.test_client()
    created = client.post("/v1/collections", json={"name": "docs", "model": tiny_model})
    assert created.status_code == 201, created.get_data(as_text=True)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"  # type: ignore[union-attr]
    server.close()
    app.extensions["mmsearch"].close()


@pytest.mark.slow  # 30 generated requests for each operation
@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_request_gets_a_server_error(case: Any, base_url: str) -> None:
    response = case.call(base_url=base_url)
    case.validate_response(response, checks=[not_a_server_error])
