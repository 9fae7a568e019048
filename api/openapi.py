"""The OpenAPI 3.1 document, built from the endpoint table and its typed schemas."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from mmsearch.api.http import ENDPOINTS, TAGS, Endpoint
from mmsearch.api.openapi_examples import EXAMPLES
from mmsearch.api.schemas import resources as s

_ERROR = {
    "description": "error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _request_body(model: type[BaseModel], examples: Mapping[str, Any] | None) -> dict[str, Any]:
    content: dict[str, Any] = {"schema": _ref(model)}
    if examples is not None:
        content["examples"] = examples
    else:
        content["example"] = EXAMPLES[model]
    return {"required": True, "content": {"application/json": content}}


def _success(endpoint: Endpoint) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if endpoint.response is not None:
        body["schema"] = _ref(endpoint.response)
    example = endpoint.example
    if example is None and endpoint.response is not None:
        example = EXAMPLES[endpoint.response]
    if example is not None:
        body["example"] = example
    ok: dict[str, Any] = {"description": endpoint.success}
    if body:
        ok["content"] = {endpoint.media_type: body}
    return ok


def operation(endpoint: Endpoint) -> dict[str, Any]:
    """One endpoint's operation object; every API error response is the one envelope."""
    if endpoint.plain is not None:
        responses = {str(status): {"description": text} for status, text in endpoint.plain.items()}
        return {"summary": endpoint.summary, "tags": [endpoint.tag], "responses": responses}
    op: dict[str, Any] = {
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in endpoint.parameters
        ],
    }
    if endpoint.request is not None:
        op["requestBody"] = _request_body(endpoint.request, endpoint.request_examples)
    op["responses"] = {str(endpoint.status): _success(endpoint), "default": _ERROR}
    return op


def build_openapi(endpoints: Iterable[Endpoint] = ENDPOINTS) -> dict[str, Any]:
    """The whole document, with the schemas of every request and response."""
    endpoints = list(endpoints)
    models = {m for e in endpoints for m in (e.request, e.response) if m is not None}
    models.add(s.ErrorEnvelope)
    _, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, Any] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.openapi_path, {})[endpoint.method.lower()] = operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mmsearch",
            "version": "1",
            "description": "Multimodal image search over S3 collections",
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS.values()],
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }
