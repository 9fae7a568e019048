"""The one error envelope: every failure renders as {"error": {code, message, details}}."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from mmsearch.infra.errors import AppError, ItemError, ItemErrorCode

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "invalid_json",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def envelope(status: int, code: str, message: str, details: Any = None) -> tuple[Response, int]:
    """A JSON error response in the platform's one shape."""
    return jsonify({"error": {"code": code, "message": message, "details": details}}), status


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as [{field, message}] with dotted field pointers."""
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]}
        for err in exc.errors(include_url=False, include_input=False)[:20]
    ]


def register_error_handlers(app: Flask) -> None:
    """Route every exception type to the envelope."""

    @app.errorhandler(AppError)
    def _app_error(exc: AppError) -> tuple[Response, int]:
        return envelope(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(ItemError)
    def _item_error(exc: ItemError) -> tuple[Response, int]:
        # A reference or image given directly in a request (query image, ingest prefix).
        status = 413 if exc.code == ItemErrorCode.TOO_LARGE else 400
        return envelope(status, str(exc.code), exc.message)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> tuple[Response, int]:
        return envelope(422, "invalid_request", "request body is invalid", validation_details(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        message = exc.description or exc.name
        if status == 400:
            message = "request body is not valid JSON"
        return envelope(status, code, message)

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    def _redis_down(exc: Exception) -> tuple[Response, int]:
        log.warning("job store (Redis) unreachable: %s", exc)
        return envelope(503, "job_store_unavailable", "the job store is unreachable; try again")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return envelope(500, "internal_error", "internal error; see server logs")
