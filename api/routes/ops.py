"""Open endpoints: the web page, the OpenAPI document and its docs page, metrics, liveness (alive
means no dependency the process runs itself is gone for good) and readiness (ready means Redis,
the vector store and the encoder all answer)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from flask import Response, current_app, jsonify, send_from_directory

from mmsearch.api.metrics import render_metrics
from mmsearch.api.routes import runtime
from mmsearch.encoders import canonical_name, load_failures, loaded_encoders, parse_model_name
from mmsearch.encoders.allowed import local_weights

log = logging.getLogger(__name__)

UI_DIR = Path(__file__).parent.parent / "static" / "ui"
OPENAPI_EXTENSION = "mmsearch.openapi"
# {name: probe} of the dependencies the process runs itself; a probe returns why the dependency
# is gone for good, or None while it lives.
LIVENESS_EXTENSION = "mmsearch.liveness"
# The metrics URL of a worker process this process runs (standalone mode), merged into /metrics.
WORKER_METRICS_EXTENSION = "mmsearch.worker_metrics"

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
    """Prometheus metrics of this process (and of its worker process), and gauges of the
    platform's state."""
    rt = runtime()
    worker = current_app.extensions.get(WORKER_METRICS_EXTENSION)
    body, content_type = render_metrics(rt.redis, rt.jobs, rt.outbox, worker)
    return Response(body, content_type=content_type)


def healthz() -> tuple[Response, int]:
    """Liveness: 200 while the process answers and every dependency it runs itself lives."""
    probes: dict[str, Callable[[], str | None]] = current_app.extensions.get(LIVENESS_EXTENSION, {})
    failures = {name: reason for name, probe in probes.items() if (reason := probe()) is not None}
    if failures:
        checks = {name: f"error: {failures[name]}" if name in failures else "ok" for name in probes}
        return jsonify({"status": "failed", "checks": checks}), 503
    return jsonify({"status": "ok"}), 200


_LAST_STATES: dict[str, str] = {}  # readiness check -> its last answer, to log changes only
_STATES_LOCK = threading.Lock()


def _check(name: str, probe: Callable[[], object], say_why: bool = False) -> tuple[str, str]:
    """A readiness check's answer: "ok", or "error: " and the cause (`say_why`: its message,
    else its class name). Logged when it changes, not on every poll."""
    try:
        probe()
        state = "ok"
    except Exception as exc:  # a readiness probe reports, it does not raise
        state, cause = f"error: {exc if say_why else type(exc).__name__}", exc
    with _STATES_LOCK:
        previous = _LAST_STATES.get(name, "ok")
        _LAST_STATES[name] = state
    if state != previous and state != "ok":
        log.warning("readiness check %s failed: %s", name, cause)
    elif state != previous:
        log.info("readiness check %s ok again", name)
    return name, state


def model_states(default_model: str) -> dict[str, str]:
    """The loaded models ("ok") and those whose last load failed ("error: " and why), the
    default first."""
    states = {canonical_name(default_model): "not loaded"}
    states.update({encoder.name: "ok" for encoder in loaded_encoders()})
    states.update({name: f"error: {_load_failure(name)}" for name in load_failures()})
    return states


def _load_failure(name: str) -> str | None:
    """Why a model's last load failed; a model with local weights does not show its path."""
    why = load_failures().get(name)
    if why is not None and local_weights(parse_model_name(name)) is not None:
        return "its weights could not be loaded (the server log says why)"
    return why


def readyz() -> tuple[Response, int]:
    """Readiness: 200 when Redis, the vector store and an encoder answer, else 503."""
    rt = runtime()

    def encoder_probe() -> None:
        encoders = loaded_encoders()
        if not encoders:
            default = canonical_name(rt.settings.default_model)
            why = _load_failure(default)
            raise RuntimeError(
                f"model {default} cannot be loaded: {why}"
                if why
                else f"model {default} is not loaded"
            )
        encoders[-1].embed_texts(["ready"])  # the most recently used

    checks = dict(
        [
            _check("redis", rt.redis.ping),
            _check("vector_store", rt.vectors.list_collections),
            _check("encoder", encoder_probe, say_why=True),
        ]
    )
    ready = all(value == "ok" for value in checks.values())
    models = model_states(rt.settings.default_model)
    body = {"status": "ready" if ready else "not_ready", "checks": checks, "models": models}
    return jsonify(body), (200 if ready else 503)
