"""Route handlers, one module per resource; here what they all share: the runtime, the task
sender, the caller's tenant, JSON request parsing and JSON rendering."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Response, current_app, g, jsonify, request
from pydantic import BaseModel

from mmsearch.api.schemas.resources import METADATA_LIMITS
from mmsearch.infra.errors import InvalidRequest
from mmsearch.infra.runtime import Runtime
from mmsearch.workers.dispatch import TaskSender

M = TypeVar("M", bound=BaseModel)


def runtime() -> Runtime:
    """The app's runtime: settings and the clients of every store."""
    rt: Runtime = current_app.extensions["mmsearch"]
    return rt


def task_sender() -> TaskSender:
    """Sends tasks through the app's Celery, recorded in the runtime's outbox."""
    return TaskSender(current_app.extensions["celery"], runtime().outbox)


def caller_tenant() -> str | None:
    """The tenant the request's key is bound to (None: no tenant, sees every item)."""
    tenant: str | None = g.get("tenant")
    return tenant


def json_object() -> dict[str, Any]:
    """The request body, which must be a JSON object (400 for bad JSON, 422 for another type)."""
    body = request.get_json(force=True, silent=False)
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", details=[{"field": "body"}])
    return body


def parse(model: type[M], body: dict[str, Any] | None = None) -> M:
    """Validate the JSON body (or `body`) against a request schema (422 with field pointers),
    metadata against the configured bounds."""
    context = {METADATA_LIMITS: runtime().settings.metadata_limits}
    return model.model_validate(json_object() if body is None else body, context=context)


def render(model: BaseModel, status: int = 200) -> tuple[Response, int]:
    """A response schema as the JSON body."""
    return jsonify(model.model_dump(mode="json")), status
