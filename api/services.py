"""What the endpoints do, as plain functions over the runtime (no Flask here)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from api.schemas import (
    CollectionCreate,
    CollectionPublic,
    IngestRequest,
    JobAccepted,
    JobError,
    JobPublic,
)
from encoders import UnknownModel, parse_model_name
from infra.errors import InvalidRequest, Unavailable
from infra.filters import metadata_key
from infra.jobs import JobState, JobStatus
from infra.runtime import Runtime
from infra.vectors import CollectionInfo, CollectionSpec
from workers.dispatch import send_batches, send_prefix

log = logging.getLogger(__name__)


def collection_public(info: CollectionInfo) -> CollectionPublic:
    """The public view of a collection."""
    spec = info.spec
    schema = {key.removeprefix("metadata."): kind for key, kind in spec.payload_schema.items()}
    return CollectionPublic(
        name=spec.name,
        model=spec.model,
        dim=spec.dim,
        count=info.count,
        payload_schema=schema,
        random_weights=parse_model_name(spec.model).is_random,
    )


def create_collection(runtime: Runtime, body: CollectionCreate) -> CollectionPublic:
    """Load (or reuse) the model to learn its dimension, then create the collection."""
    model = body.model or runtime.settings.default_model
    try:
        encoder = runtime.encoder(model)
    except UnknownModel as exc:
        raise InvalidRequest(str(exc), code="unknown_model") from exc
    except (OSError, RuntimeError) as exc:
        log.exception("cannot load model %s", model)
        raise Unavailable(
            f"model {model!r} could not be loaded: {type(exc).__name__}; offline servers need "
            "a local weights file (ARCH/file:PATH) or a model cache",
            code="model_unavailable",
        ) from exc
    schema = {metadata_key(field): kind for field, kind in body.payload_schema.items()}
    spec = CollectionSpec(
        name=body.name,
        dim=encoder.dim,
        model=encoder.name,
        payload_schema=schema,
        extra={"id_namespace": body.name},
    )
    runtime.vectors.create_collection(spec)
    log.info("created collection %s (model %s, dim %d)", spec.name, spec.model, spec.dim)
    return collection_public(runtime.vectors.get_collection(body.name))


def submit_ingest(runtime: Runtime, collection: str, body: IngestRequest) -> JobAccepted:
    """Create a job and queue its batches; the workers do the rest."""
    runtime.vectors.get_collection(collection)  # 404 before any job exists
    jobs = runtime.jobs
    options = body.model_dump(include={"auto_labels", "dedup_threshold"}, exclude_none=True)
    if body.prefix is not None:
        runtime.objects.parse(body.prefix, prefix=True)  # a bad prefix is the client's error
        job_id = jobs.create(collection, 0, listing=True)
        send_prefix(job_id, collection, body.prefix, body.metadata, options or None)
        return JobAccepted(job_id=job_id, status=JobStatus.QUEUED, total=None)
    items = body.items or []
    job_id = jobs.create(collection, len(items))
    raw = [
        {
            "uri": item.uri,
            "id": item.id,
            "metadata": {**body.metadata, **item.metadata},
            "text": item.text,
        }
        for item in items
    ]
    send_batches(job_id, collection, raw, runtime.settings.batch_size, options=options or None)
    return JobAccepted(job_id=job_id, status=JobStatus.QUEUED, total=len(items))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def job_public(state: JobState) -> JobPublic:
    """The public view of a job."""
    return JobPublic(
        job_id=state.job_id,
        collection=state.collection,
        status=state.status,
        total=state.total,
        succeeded=state.succeeded,
        failed=state.failed,
        skipped=state.skipped,
        pending=state.pending,
        listing=state.listing,
        message=state.message,
        error_count=state.error_count,
        errors=[JobError(**e.__dict__) for e in state.errors],
        created_at=_iso(state.created_at),
        updated_at=_iso(state.updated_at),
    )
