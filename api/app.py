"""The Flask app factory."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from mmsearch.api.auth import install_auth
from mmsearch.api.errors import register_error_handlers
from mmsearch.api.http import register_endpoints
from mmsearch.api.openapi import build_openapi
from mmsearch.api.routes.ops import OPENAPI_EXTENSION
from mmsearch.api.services.media import MEDIA_LINKS_EXTENSION, LinkSigner
from mmsearch.infra.catalog.metadata import json_shape
from mmsearch.infra.errors import InvalidJSON
from mmsearch.infra.runtime import Runtime, set_runtime
from mmsearch.infra.settings import Settings, get_settings
from mmsearch.workers.celery_app import celery_config, celery_init_app

log = logging.getLogger(__name__)


class BoundedJSON(DefaultJSONProvider):
    """Flask's JSON with a bound on how deep a request body may nest (422 `invalid_json`).

    Python's parser recurses once per level, so a body nested a thousand levels deep would
    otherwise end in a RecursionError; bodies within the bound are parsed as before.
    """

    max_depth = 256

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse `s`; InvalidJSON when it nests deeper than `max_depth`."""
        try:
            value = super().loads(s, **kwargs)
            too_deep = json_shape(value)[0] > self.max_depth
        except RecursionError:
            too_deep = True
        if too_deep:
            raise InvalidJSON(f"the JSON body nests deeper than {self.max_depth} levels")
        return value


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the API; `settings` overrides the environment, `runtime` shares existing clients."""
    if runtime is None:
        settings = settings or get_settings()
        runtime = Runtime(settings, text_only=not settings.api_image_queries)
    settings = runtime.settings
    set_runtime(runtime)
    app = Flask(__name__)
    bounded = BoundedJSON(app)
    bounded.max_depth = settings.max_json_depth
    bounded.sort_keys = False
    app.json = bounded
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.config["CELERY"] = celery_config(settings)
    celery_init_app(app)
    app.extensions["mmsearch"] = runtime
    register_error_handlers(app)
    secret = settings.media_link_secret
    links = LinkSigner.from_config(
        secret.get_secret_value() if secret else None, settings.api_keys, settings.media_link_ttl_s
    )
    app.extensions[MEDIA_LINKS_EXTENSION] = links
    install_auth(app, settings.api_keys, links)
    register_endpoints(app)
    app.extensions[OPENAPI_EXTENSION] = build_openapi()
    return app
