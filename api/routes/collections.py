"""Collections: create, list, read, version history, re-embed, delete."""

from __future__ import annotations

from flask import Response, jsonify

from mmsearch.api.routes import caller_tenant, parse, render, runtime
from mmsearch.api.schemas.resources import CollectionCreate, CollectionsPublic, ReembedRequest
from mmsearch.api.services import collections


def create_collection() -> tuple[Response, int]:
    """Create a collection (admin)."""
    return render(collections.create_collection(runtime(), parse(CollectionCreate)), 201)


def list_collections() -> tuple[Response, int]:
    """Every collection (active versions), counted for the caller's tenant."""
    rt, tenant = runtime(), caller_tenant()
    data = [collections.for_tenant(rt, c, tenant) for c in collections.list_collections(rt)]
    return render(CollectionsPublic(data=data, count=len(data)))


def get_collection(name: str) -> tuple[Response, int]:
    """One collection, counted for the caller's tenant."""
    public = collections.collection_public(runtime().vectors.get_collection(name))
    return render(collections.for_tenant(runtime(), public, caller_tenant()))


def collection_versions(name: str) -> tuple[Response, int]:
    """A collection's versions, the active one marked."""
    rt, tenant = runtime(), caller_tenant()
    data = [collections.for_tenant(rt, c, tenant) for c in collections.versions(rt, name)]
    return render(CollectionsPublic(data=data, count=len(data)))


def reembed(name: str) -> tuple[Response, int]:
    """Start re-embedding a collection into a new version with another model."""
    return render(collections.reembed(runtime(), name, parse(ReembedRequest)), 202)


def delete_collection(name: str) -> tuple[Response, int]:
    """Delete a collection with all its versions, or one inactive version by its name."""
    deleted = collections.delete_collection(runtime(), name)
    return jsonify({"name": name, "deleted": True, "versions": deleted}), 200
