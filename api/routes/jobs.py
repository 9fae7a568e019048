"""Ingest jobs: start one, list the recent ones, read, retry the failed items, cancel."""

from __future__ import annotations

from flask import Response, request

from mmsearch.api.routes import caller_tenant, json_object, parse, render, runtime, task_sender
from mmsearch.api.schemas.resources import IngestRequest, JobsPublic, RetryRequest
from mmsearch.api.services import ingest as ingest_service
from mmsearch.infra.errors import InvalidRequest
from mmsearch.infra.jobs.idempotency import body_digest
from mmsearch.infra.jobs.index import recent_jobs


def ingest(name: str) -> tuple[Response, int]:
    """Queue media for a collection; the job id comes back at once."""
    rt, body = runtime(), json_object()
    # Counted before validation, so an oversized request is refused without parsing every item.
    ingest_service.check_item_count(body, rt.settings.max_items_per_request)
    key = request.headers.get("Idempotency-Key")
    idempotency = (key, body_digest(body)) if key else None
    accepted = ingest_service.submit_ingest(
        rt.vectors,
        rt.jobs,
        task_sender(),
        rt.objects,
        rt.settings.batch_size,
        name,
        parse(IngestRequest, body),
        caller_tenant(),
        metadata_limits=rt.settings.metadata_limits,
        idempotency=idempotency,
    )
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


def list_jobs() -> tuple[Response, int]:
    """The caller's recent jobs, newest first (?limit=, default 50)."""
    limit = _int_arg("limit", 50, 1000)
    states = recent_jobs(runtime().jobs, limit, caller_tenant())
    data = [ingest_service.job_public(state) for state in states]
    return render(JobsPublic(data=data, count=len(data)))


def get_job(job_id: str) -> tuple[Response, int]:
    """A job's progress and a page of its errors (?errors_limit=, ?errors_offset=)."""
    limit = _int_arg("errors_limit", 100, 1000)
    offset = _int_arg("errors_offset", 0, 10_000_000)
    state = ingest_service.job_state(
        runtime().jobs, job_id, caller_tenant(), errors_limit=limit, errors_offset=offset
    )
    return render(ingest_service.job_public(state))


def retry_job(job_id: str) -> tuple[Response, int]:
    """Send a job's failed items again (all, or those with the given error codes)."""
    body = parse(RetryRequest) if request.get_data() else RetryRequest()
    rt = runtime()
    accepted = ingest_service.retry_failed(
        rt.vectors, rt.jobs, task_sender(), rt.settings.batch_size, job_id, body, caller_tenant()
    )
    return render(accepted, 202)


def cancel_job(job_id: str) -> tuple[Response, int]:
    """Cancel a job; items not yet processed stay pending."""
    return render(ingest_service.cancel(runtime().jobs, job_id, caller_tenant()))
