"""Open endpoints: the OpenAPI document and its docs page, metrics, liveness and readiness (ready
means Redis, the vector store and the encoder all answer)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from mmsearch.api.metrics import render_metrics
from mmsearch.api.openapi import build_openapi
from mmsearch.encoders import loaded_encoders
from mmsearch.infra.runtime import Runtime

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/openapi.json")
def openapi() -> tuple[Response, int]:
    return jsonify(build_openapi()), 200


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


@bp.get("/docs")
def docs() -> Response:
    """The API documentation page (Swagger UI, served from the app's own files)."""
    return Response(DOCS_PAGE, content_type="text/html; charset=utf-8")


@bp.get("/metrics")
def metrics() -> Response:
    body, content_type = render_metrics(current_app.extensions["mmsearch"])
    return Response(body, content_type=content_type)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    return jsonify({"status": "ok"}), 200


def _check(name: str, probe: Any) -> tuple[str, str]:
    try:
        probe()
        return name, "ok"
    except Exception as exc:  # a readiness probe reports, it does not raise
        log.warning("readiness check %s failed: %s", name, exc)
        return name, f"error: {type(exc).__name__}"


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    rt: Runtime = current_app.extensions["mmsearch"]
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
