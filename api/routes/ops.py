"""Open endpoints: the web page, the OpenAPI document and its docs page, metrics, liveness (alive
means no dependency the process runs itself is gone for good) and readiness (ready means Redis,
the vector store and the encoder all answer)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from flask import Response, current_app, jsonify, send_from_directory

from mmsearch.api.metrics import render_metrics
from mmsearch.api.routes import runtime
from mmsearch.encoders import loaded_encoders

log = logging.getLogger(__name__)

UI_DIR = Path(__file__).parent.parent / "static" / "ui"
OPENAPI_EXTENSION = "mmsearch.openapi"
# {name: probe} of the dependencies the process runs itself; a probe returns why the dependency
# is gone for good, or None while it lives.
LIVENESS_EXTENSION = "mmsearch.liveness"

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mmsearch API</title>
<link rel="stylesheet" href="/static/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="/static/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""


def index() -> Response:
    """The web page: search and jobs over the public API (api/static/ui)."""
    return send_from_directory(UI_DIR, "index.html", max_age=0)


def openapi() -> tuple[Response, int]:
    """The OpenAPI document, built when the app was made."""
    # It describes this endpoint too, so it is handed over through the app, not imported.
    return jsonify(current_app.extensions[OPENAPI_EXTENSION]), 200


def docs() -> Response:
    """The API documentation page (Swagger UI, served from the app's own files)."""
    return Response(DOCS_PAGE, content_type="text/html; charset=utf-8")


def metrics() -> Response:
    """Prometheus metrics of this process and gauges of the platform's state."""
    rt = runtime()
    body, content_type = render_metrics(rt.redis, rt.jobs, rt.outbox)
    return Response(body, content_type=content_type)


def healthz() -> tuple[Response, int]:
    """Liveness: 200 while the process answers and every dependency it runs itself lives."""
    probes: dict[str, Callable[[], str | None]] = current_app.extensions.get(LIVENESS_EXTENSION, {})
    failures = {name: reason for name, probe in probes.items() if (reason := probe()) is not None}
    if failures:
        checks = {name: f"error: {failures[name]}" if name in failures else "ok" for name in probes}
        return jsonify({"status": "failed", "checks": checks}), 503
    return jsonify({"status": "ok"}), 200


def _check(name: str, probe: Callable[[], object]) -> tuple[str, str]:
    try:
        probe()
        return name, "ok"
    except Exception as exc:  # a readiness probe reports, it does not raise
        log.warning("readiness check %s failed: %s", name, exc)
        return name, f"error: {type(exc).__name__}"


def readyz() -> tuple[Response, int]:
    """Readiness: 200 when Redis, the vector store and an encoder answer, else 503."""
    rt = runtime()
    encoders = loaded_encoders()

    def encoder_probe() -> None:
        if not encoders:
            raise RuntimeError("no encoder loaded yet")
        encoders[0].embed_texts(["ready"])

    checks = dict(
        [
            _check("redis", rt.redis.ping),
            _check("vector_store", rt.vectors.list_collections),
            _check("encoder", encoder_probe),
        ]
    )
    ready = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ready" if ready else "not_ready", "checks": checks}), (
        200 if ready else 503
    )
