"""A collection's sources: add, list, show, sync and remove them."""

from __future__ import annotations

from flask import Response, request

from mmsearch.api.routes import caller_tenant, parse, render, runtime, task_sender
from mmsearch.api.schemas.sources import RemoveQuery, SourceCreate, SourcesPublic, SyncRequest
from mmsearch.api.services import sources
from mmsearch.workers.schedule import Syncs


def _syncs() -> Syncs:
    rt = runtime()
    return Syncs(rt.jobs, rt.sources, task_sender(), rt.vectors)


def add_source(name: str) -> tuple[Response, int]:
    """Add a bucket prefix or folder to keep the collection in sync with."""
    body = parse(SourceCreate)
    added = sources.add_source(_syncs(), runtime().objects, name, body, caller_tenant())
    return render(added, 201)


def list_sources(name: str) -> tuple[Response, int]:
    """The collection's sources, each with its latest sync."""
    data = sources.list_sources(_syncs(), name, caller_tenant())
    return render(SourcesPublic(data=data, count=len(data)))


def get_source(name: str, source_id: str) -> tuple[Response, int]:
    """One source with its latest sync."""
    syncs = _syncs()
    return render(
        sources.source_public(syncs, sources.find_source(syncs, name, source_id, caller_tenant()))
    )


def sync_source(name: str, source_id: str) -> tuple[Response, int]:
    """Start a sync of the source now."""
    syncs = _syncs()
    source = sources.find_source(syncs, name, source_id, caller_tenant())
    body = parse(SyncRequest, {} if not request.get_data() else None)
    return render(sources.start_sync(syncs, source, body), 202)


def remove_source(name: str, source_id: str) -> tuple[Response, int]:
    """Stop syncing a source; `?purge=true` also deletes its items."""
    syncs = _syncs()
    source = sources.find_source(syncs, name, source_id, caller_tenant())
    query = RemoveQuery.model_validate(request.args.to_dict())
    return render(sources.remove_source(syncs, source, query.purge))
