"""The OpenAPI 3.1 document, built from the typed request/response schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from mmsearch.api.openapi_examples import COLLECTION_DELETED, EXAMPLES
from mmsearch.api.schemas import queries as q
from mmsearch.api.schemas import resources as s

Endpoint = tuple[str, str, str, type[BaseModel] | None, type[BaseModel] | None, int]

ENDPOINTS: list[Endpoint] = [
    ("post", "/v1/collections", "Create a collection", s.CollectionCreate, s.CollectionPublic, 201),
    ("get", "/v1/collections", "List collections", None, s.CollectionsPublic, 200),
    ("get", "/v1/collections/{name}", "Get a collection", None, s.CollectionPublic, 200),
    ("delete", "/v1/collections/{name}", "Delete a collection", None, None, 200),
    (
        "get",
        "/v1/collections/{name}/versions",
        "A collection's versions",
        None,
        s.CollectionsPublic,
        200,
    ),
    (
        "post",
        "/v1/collections/{name}/reembed",
        "Re-embed into a new version with another model",
        s.ReembedRequest,
        s.JobAccepted,
        202,
    ),
    ("post", "/v1/collections/{name}/ingest", "Ingest media", s.IngestRequest, s.JobAccepted, 202),
    ("get", "/v1/jobs", "Recent jobs, newest first (?limit=50)", None, s.JobsPublic, 200),
    ("get", "/v1/jobs/{job_id}", "Job status", None, s.JobPublic, 200),
    ("delete", "/v1/jobs/{job_id}", "Cancel a job", None, s.JobPublic, 200),
    (
        "post",
        "/v1/jobs/{job_id}/retry",
        "Send failed items again",
        s.RetryRequest,
        s.RetryAccepted,
        202,
    ),
    (
        "post",
        "/v1/collections/{name}/search",
        "Search a collection",
        q.SearchRequest,
        q.SearchResponse,
        200,
    ),
    (
        "post",
        "/v1/search",
        "Search several collections",
        q.FanoutSearchRequest,
        q.SearchResponse,
        200,
    ),
    (
        "post",
        "/v1/classify",
        "Zero-shot labels for an image",
        q.ClassifyRequest,
        q.ClassifyResponse,
        200,
    ),
    ("get", "/v1/collections/{name}/items/{item_id}", "Get an item", None, q.ItemPublic, 200),
    (
        "patch",
        "/v1/collections/{name}/items/{item_id}",
        "Change an item's metadata",
        q.ItemPatch,
        q.ItemPublic,
        200,
    ),
    ("delete", "/v1/collections/{name}/items/{item_id}", "Delete an item", None, q.Deleted, 200),
    (
        "post",
        "/v1/collections/{name}/items:delete",
        "Delete items by ids or filter",
        q.ItemsDelete,
        q.Deleted,
        200,
    ),
    (
        "post",
        "/v1/collections/{name}/duplicates",
        "Near-duplicate groups",
        q.DuplicatesRequest,
        q.DuplicatesResponse,
        200,
    ),
]

SEARCH_EXAMPLES: dict[str, dict[str, Any]] = {
    "text": {"value": {"text": "a dog running on a beach", "limit": 10}},
    "text_filtered": {
        "value": {
            "text": "a red dress",
            "filter": {"must": [{"key": "album", "match": {"value": "summer"}}]},
        }
    },
    "image_uri": {"value": {"image": {"uri": "s3://photos/beach.jpg"}}},
    "image_base64": {"value": {"image": {"base64": "<base64 JPEG bytes>"}}},
    "stored_item": {"value": {"item_id": "beach-001"}},
    "multimodal": {
        "value": {
            "query": [
                {"text": "red dress", "weight": 1.0},
                {"image": {"uri": "s3://photos/model.jpg"}, "weight": 0.7},
                {"text": "blurry", "weight": -0.5},
            ]
        }
    },
    "captions": {"value": {"text": "two people hiking", "mode": "text"}},
    "hybrid": {"value": {"text": "two people hiking", "mode": "hybrid"}},
    "recommend": {"value": {"recommend": {"positive": ["a", "b"], "negative": ["c"]}}},
    "grouped": {"value": {"text": "sunset", "group_by": "album", "group_size": 1, "limit": 5}},
}

_HEALTH = {
    "/": {"get": {"summary": "The web page", "responses": {"200": {"description": "HTML"}}}},
    "/docs": {"get": {"summary": "Browsable docs", "responses": {"200": {"description": "HTML"}}}},
    "/openapi.json": {
        "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "responses": {"200": {"description": "text exposition"}},
        }
    },
    "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "alive"}}}},
    "/readyz": {
        "get": {
            "summary": "Readiness (Redis, vector store, encoder)",
            "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
        }
    },
}


_THUMBNAIL = "/v1/collections/{name}/thumbnails/{item_id}"
_BINARY = {
    _THUMBNAIL: {
        "get": {
            "summary": "An item's thumbnail (JPEG, at most 256 px a side)",
            "parameters": [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in ("name", "item_id")
            ],
            "responses": {
                "200": {"description": "JPEG", "content": {"image/jpeg": {"example": "<JPEG>"}}},
                "default": {"description": "error (the JSON envelope)"},
            },
        }
    }
}


def _parameters(path: str) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]


def build_openapi() -> dict[str, Any]:
    """The whole document; every error response uses the one envelope."""
    models = {m for _, _, _, req, res, _ in ENDPOINTS for m in (req, res) if m is not None}
    models.add(s.ErrorEnvelope)
    _, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    error = {
        "description": "error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }
    paths: dict[str, Any] = {**_HEALTH, **_BINARY}
    for method, path, summary, request_model, response_model, status in ENDPOINTS:
        operation: dict[str, Any] = {"summary": summary, "parameters": _parameters(path)}
        if request_model is not None:
            content: dict[str, Any] = {
                "schema": {"$ref": f"#/components/schemas/{request_model.__name__}"}
            }
            if request_model is q.SearchRequest:
                content["examples"] = SEARCH_EXAMPLES
            else:
                content["example"] = EXAMPLES[request_model]
            operation["requestBody"] = {"required": True, "content": {"application/json": content}}
        ok: dict[str, Any] = {"description": "success"}
        if response_model is not None:
            ok["content"] = {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{response_model.__name__}"},
                    "example": EXAMPLES[response_model],
                }
            }
        elif (method, path) == ("delete", "/v1/collections/{name}"):
            ok["content"] = {"application/json": {"example": COLLECTION_DELETED}}
        operation["responses"] = {str(status): ok, "default": error}
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mmsearch",
            "version": "1",
            "description": "Multimodal image search over S3 collections",
        },
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }
