"""API-key check: when keys are configured every /v1 request must carry one."""

from __future__ import annotations

import hmac

from flask import Flask, request

from infra.errors import Unauthorized

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("X-API-Key")


def install_auth(app: Flask, keys: list[str]) -> None:
    """Reject requests without a configured key (constant-time compare); no keys: open."""
    if not keys:
        return
    encoded = [key.encode() for key in keys]

    @app.before_request
    def _check_key() -> None:
        if request.path in OPEN_PATHS:
            return
        presented = (_presented_key() or "").encode()
        if not any(hmac.compare_digest(presented, key) for key in encoded):
            raise Unauthorized("a valid API key is required (Authorization: Bearer <key>)")
