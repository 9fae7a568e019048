"""Collections: create, list, read, version history, re-embed, delete."""

from __future__ import annotations

from flask import Response, jsonify

from mmsearch.api.routes import caller_tenant, parse, render, runtime, task_sender
from mmsearch.api.schemas.ranking import KeywordSettings
from mmsearch.api.schemas.resources import CollectionCreate, CollectionsPublic, ReembedRequest
from mmsearch.api.services import collections
from mmsearch.api.services.sources import stop_collection_sources


def create_collection() -> tuple[Response, int]:
    """Create a collection (admin)."""
    rt, body = runtime(), parse(CollectionCreate)
    s = rt.settings
    created = collections.create_collection(
        rt.vectors, rt.encoder, s.allowed_models, s.default_model, body
    )
    return render(created, 201)


def list_collections() -> tuple[Response, int]:
    """Every collection (active versions), counted for the caller's tenant."""
    vectors, tenant = runtime().vectors, caller_tenant()
    data = [
        collections.for_tenant(vectors, c, tenant) for c in collections.list_collections(vectors)
    ]
    return render(CollectionsPublic(data=data, count=len(data)))


def get_collection(name: str) -> tuple[Response, int]:
    """One collection, counted for the caller's tenant."""
    vectors = runtime().vectors
    public = collections.collection_public(vectors.get_collection(name))
    return render(collections.for_tenant(vectors, public, caller_tenant()))


def collection_versions(name: str) -> tuple[Response, int]:
    """A collection's versions, the active one marked."""
    vectors, tenant = runtime().vectors, caller_tenant()
    data = [collections.for_tenant(vectors, c, tenant) for c in collections.versions(vectors, name)]
    return render(CollectionsPublic(data=data, count=len(data)))


def reembed(name: str) -> tuple[Response, int]:
    """Start re-embedding a collection into a new version with another model."""
    rt, body = runtime(), parse(ReembedRequest)
    accepted = collections.reembed(
        rt.vectors, rt.jobs, task_sender(), rt.encoder, rt.settings.allowed_models, name, body
    )
    return render(accepted, 202)


def add_keyword(name: str) -> tuple[Response, int]:
    """Give a collection a keyword index; a job fills it in for the items it holds."""
    rt, body = runtime(), parse(KeywordSettings)
    return render(collections.add_keyword(rt.vectors, rt.jobs, task_sender(), name, body), 202)


def delete_collection(name: str) -> tuple[Response, int]:
    """Delete a collection with all its versions, or one inactive version by its name."""
    rt = runtime()
    deleted = collections.delete_collection(rt.vectors, name)
    stop_collection_sources(rt.sources, rt.jobs, name)  # nothing left to sync into
    return jsonify({"name": name, "deleted": True, "versions": deleted}), 200
