"""The Flask app factory."""

from __future__ import annotations

import logging
import threading

from flask import Flask

from mmsearch.api.auth import install_auth
from mmsearch.api.errors import register_error_handlers
from mmsearch.api.http import register_endpoints
from mmsearch.api.openapi import build_openapi
from mmsearch.api.routes.ops import OPENAPI_EXTENSION
from mmsearch.infra.runtime import Runtime, set_runtime
from mmsearch.infra.settings import Settings, get_settings
from mmsearch.workers.celery_app import celery_config, celery_init_app

log = logging.getLogger(__name__)


def preload_default_model(runtime: Runtime) -> threading.Thread:
    """Load the default model in the background so the first query does not pay for it."""

    def load() -> None:
        try:
            runtime.encoder(runtime.settings.default_model)
        except Exception:
            log.exception("could not load the default model %s", runtime.settings.default_model)

    thread = threading.Thread(target=load, name="preload-model", daemon=True)
    thread.start()
    return thread


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the API; `settings` overrides the environment, `runtime` shares existing clients."""
    if runtime is None:
        settings = settings or get_settings()
        runtime = Runtime(settings, text_only=not settings.api_image_queries)
    settings = runtime.settings
    set_runtime(runtime)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.config["CELERY"] = celery_config(settings)
    celery_init_app(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["mmsearch"] = runtime
    register_error_handlers(app)
    install_auth(app, settings.api_keys)
    register_endpoints(app)
    app.extensions[OPENAPI_EXTENSION] = build_openapi()
    return app
