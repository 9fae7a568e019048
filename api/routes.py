"""The /v1 endpoints: parse with schemas, call services, render JSON."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel

from mmsearch.api.auth import caller_tenant
from mmsearch.api.schemas.resources import (
    CollectionCreate,
    CollectionsPublic,
    IngestRequest,
    JobsPublic,
    ReembedRequest,
    RetryRequest,
)
from mmsearch.api.services import collections
from mmsearch.api.services import ingest as ingest_service
from mmsearch.infra.errors import InvalidRequest, TooLarge
from mmsearch.infra.jobs.index import recent_jobs
from mmsearch.infra.runtime import Runtime

bp = Blueprint("v1", __name__, url_prefix="/v1")
M = TypeVar("M", bound=BaseModel)


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["mmsearch"]
    return rt


def _json_object() -> dict[str, Any]:
    body = request.get_json(force=True, silent=False)
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object", details=[{"field": "body"}])
    return body


def parse(model: type[M]) -> M:
    """Validate the JSON body against a request schema (422 with field pointers)."""
    return model.model_validate(_json_object())


def render(model: BaseModel, status: int = 200) -> tuple[Response, int]:
    return jsonify(model.model_dump(mode="json")), status


@bp.post("/collections")
def create_collection() -> tuple[Response, int]:
    return render(collections.create_collection(runtime(), parse(CollectionCreate)), 201)


@bp.get("/collections")
def list_collections() -> tuple[Response, int]:
    rt, tenant = runtime(), caller_tenant()
    data = [collections.for_tenant(rt, c, tenant) for c in collections.list_collections(rt)]
    return render(CollectionsPublic(data=data, count=len(data)))


@bp.get("/collections/<name>")
def get_collection(name: str) -> tuple[Response, int]:
    public = collections.collection_public(runtime().vectors.get_collection(name))
    return render(collections.for_tenant(runtime(), public, caller_tenant()))


@bp.get("/collections/<name>/versions")
def collection_versions(name: str) -> tuple[Response, int]:
    rt, tenant = runtime(), caller_tenant()
    data = [collections.for_tenant(rt, c, tenant) for c in collections.versions(rt, name)]
    return render(CollectionsPublic(data=data, count=len(data)))


@bp.post("/collections/<name>/reembed")
def reembed(name: str) -> tuple[Response, int]:
    return render(collections.reembed(runtime(), name, parse(ReembedRequest)), 202)


@bp.delete("/collections/<name>")
def delete_collection(name: str) -> tuple[Response, int]:
    deleted = collections.delete_collection(runtime(), name)
    return jsonify({"name": name, "deleted": True, "versions": deleted}), 200


@bp.post("/collections/<name>/ingest")
def ingest(name: str) -> tuple[Response, int]:
    body = _json_object()
    items, limit = body.get("items"), runtime().settings.max_items_per_request
    if isinstance(items, list) and len(items) > limit:
        raise TooLarge(
            f"{len(items)} items exceeds the limit of {limit} per request", details={"limit": limit}
        )
    request_body = IngestRequest.model_validate(body)
    accepted = ingest_service.submit_ingest(runtime(), name, request_body, caller_tenant())
    return render(accepted, 202)


def _int_arg(name: str, default: int, high: int) -> int:
    raw = request.args.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{name} must be an integer", details=[{"field": name}]) from exc
    if not 0 <= value <= high:
        raise InvalidRequest(f"{name} must be between 0 and {high}", details=[{"field": name}])
    return value


@bp.get("/jobs")
def list_jobs() -> tuple[Response, int]:
    limit = _int_arg("limit", 50, 1000)
    states = recent_jobs(runtime().jobs, limit, caller_tenant())
    data = [ingest_service.job_public(state) for state in states]
    return render(JobsPublic(data=data, count=len(data)))


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> tuple[Response, int]:
    limit = _int_arg("errors_limit", 100, 1000)
    offset = _int_arg("errors_offset", 0, 10_000_000)
    state = ingest_service.job_state(
        runtime(), job_id, caller_tenant(), errors_limit=limit, errors_offset=offset
    )
    return render(ingest_service.job_public(state))


@bp.post("/jobs/<job_id>/retry")
def retry_job(job_id: str) -> tuple[Response, int]:
    body = parse(RetryRequest) if request.get_data() else RetryRequest()
    return render(ingest_service.retry_failed(runtime(), job_id, body, caller_tenant()), 202)


@bp.delete("/jobs/<job_id>")
def cancel_job(job_id: str) -> tuple[Response, int]:
    return render(ingest_service.cancel(runtime(), job_id, caller_tenant()))
