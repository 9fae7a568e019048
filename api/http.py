"""The HTTP API as one table: each endpoint declared once, with its route, the scope an API key
needs to call it and what the OpenAPI document says of it.

Flask's rules (`register_endpoints`), the key check (`auth`) and the OpenAPI document
(`openapi`) are all built from `ENDPOINTS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import KW_ONLY, dataclass
from enum import StrEnum
from typing import Any, Literal

from flask import Flask
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from werkzeug.routing import PathConverter

from mmsearch.api.openapi_examples import COLLECTION_DELETED, SEARCH_EXAMPLES
from mmsearch.api.routes import collections, items, jobs, ops, points, search, sources
from mmsearch.api.schemas import points as p
from mmsearch.api.schemas import queries as q
from mmsearch.api.schemas import resources as s
from mmsearch.api.schemas import sources as src

Method = Literal["GET", "POST", "PATCH", "DELETE"]

# `{name}` is a path parameter; `{name:path}` one that may hold any slashes (`AnyPath`).
_PARAMETER = re.compile(r"\{(\w+)(?::(\w+))?\}")
_CONVERTERS = {"path": "anypath"}


class AnyPath(PathConverter):
    """Matches any non-empty rest of the path, so that every legal item id has a URL.

    Werkzeug's `path` refuses a leading slash (an id `/a/b` would be unreachable); the routing
    matches before merging slashes, so `a//b` and `a/` stay as they are.
    """

    regex = ".+?"
    part_isolating = False


# The OpenAPI tag of each route module, with its description: /docs shows one section per tag.
TAGS: Mapping[str, tuple[str, str]] = {
    "collections": ("collections", "Create, inspect, re-embed and delete collections"),
    "jobs": ("ingest & jobs", "Ingest media; follow, cancel and retry its jobs"),
    "sources": ("sources", "Keep a collection in sync with buckets and folders"),
    "search": ("search", "Search one collection or several; zero-shot labels"),
    "items": ("items", "Read, change and delete indexed items; thumbnails; near-duplicates"),
    "points": ("points", "Items with their vectors: export page by page, import without embedding"),
    "ops": ("operations", "The web page, this document, metrics and health probes"),
}


class Scope(StrEnum):
    """What an API key must allow to call an endpoint; `open` endpoints need no key."""

    OPEN = "open"
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


@dataclass(frozen=True)
class Endpoint:
    """One endpoint: method, path, handler, scope, and its OpenAPI description."""

    method: Method
    path: str
    handler: Callable[..., ResponseReturnValue]
    scope: Scope
    summary: str
    status: int
    _: KW_ONLY
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    request_examples: Mapping[str, Any] | None = None  # named ones, else the schema's example
    example: Any = None  # of a success body without a response schema
    media_type: str = "application/json"  # of the success body
    success: str = "success"  # the success response's description
    plain: Mapping[int, str] | None = None  # an open page's responses, described in words alone

    @property
    def name(self) -> str:
        """The Flask endpoint name: the handler's."""
        return self.handler.__name__

    @property
    def tag(self) -> str:
        """The OpenAPI tag: the group of the route module that handles it."""
        return TAGS[self.handler.__module__.rsplit(".", 1)[-1]][0]

    @property
    def rule(self) -> str:
        """The Flask rule: `{name}` becomes `<name>`, `{item_id:path}` `<anypath:item_id>`."""
        return _PARAMETER.sub(
            lambda m: f"<{_CONVERTERS[m[2]]}:{m[1]}>" if m[2] else f"<{m[1]}>", self.path
        )

    @property
    def openapi_path(self) -> str:
        """The path as OpenAPI spells it: `{name}`."""
        return _PARAMETER.sub(r"{\1}", self.path)

    @property
    def parameters(self) -> list[str]:
        """The path parameters' names, in order."""
        return [m[1] for m in _PARAMETER.finditer(self.path)]


OPEN, READ, WRITE, ADMIN = Scope.OPEN, Scope.READ, Scope.WRITE, Scope.ADMIN
_COLLECTION = "/v1/collections/{name}"
_ITEM = "/v1/collections/{name}/items/{item_id:path}"
_SOURCE = "/v1/collections/{name}/sources/{source_id}"

_DELETE_EXAMPLES = {
    "ids": {"value": {"ids": ["beach/001.jpg", "beach/002.jpg"]}},
    "filter": {"value": {"filter": {"must": [{"key": "album", "match": {"value": "drafts"}}]}}},
    "all": {"value": {"all": True}, "summary": "every item (an empty filter is refused)"},
}

# Where two endpoints share a path, the first one listed answers its OPTIONS requests.
# fmt: off
ENDPOINTS: tuple[Endpoint, ...] = (
    # Collections
    Endpoint("POST", "/v1/collections", collections.create_collection, ADMIN,
             "Create a collection", 201, request=s.CollectionCreate, response=s.CollectionPublic),
    Endpoint("GET", "/v1/collections", collections.list_collections, READ,
             "List collections", 200, response=s.CollectionsPublic),
    Endpoint("GET", _COLLECTION, collections.get_collection, READ,
             "Get a collection", 200, response=s.CollectionPublic),
    Endpoint("DELETE", _COLLECTION, collections.delete_collection, ADMIN,
             "Delete a collection", 200, example=COLLECTION_DELETED),
    Endpoint("GET", f"{_COLLECTION}/versions", collections.collection_versions, READ,
             "A collection's versions", 200, response=s.CollectionsPublic),
    Endpoint("POST", f"{_COLLECTION}/reembed", collections.reembed, ADMIN,
             "Re-embed into a new version with another model", 202,
             request=s.ReembedRequest, response=s.JobAccepted),
    Endpoint("POST", f"{_COLLECTION}/keyword", collections.add_keyword, ADMIN,
             "Add a keyword (BM25) index to a collection made without one; a job fills it in "
             "(again: fills what is missing; other settings: 409 keyword_index_exists)", 202,
             request=s.KeywordSettings, response=s.JobAccepted),
    # Jobs
    Endpoint("POST", f"{_COLLECTION}/ingest", jobs.ingest, WRITE,
             "Ingest media (header Idempotency-Key: a repeated request returns the first job)",
             202, request=s.IngestRequest, response=s.JobAccepted),
    Endpoint("GET", "/v1/jobs", jobs.list_jobs, READ,
             "Recent jobs, newest first (?limit=50)", 200, response=s.JobsPublic),
    Endpoint("GET", "/v1/jobs/{job_id}", jobs.get_job, READ,
             "Job status", 200, response=s.JobPublic),
    Endpoint("DELETE", "/v1/jobs/{job_id}", jobs.cancel_job, WRITE,
             "Cancel a job", 200, response=s.JobPublic),
    Endpoint("POST", "/v1/jobs/{job_id}/retry", jobs.retry_job, WRITE,
             "Send failed items again", 202, request=s.RetryRequest, response=s.RetryAccepted),
    # Sources
    Endpoint("POST", f"{_COLLECTION}/sources", sources.add_source, WRITE,
             "Add a bucket prefix or folder to keep the collection in sync with", 201,
             request=src.SourceCreate, response=src.SourcePublic),
    Endpoint("GET", f"{_COLLECTION}/sources", sources.list_sources, READ,
             "The collection's sources, each with its latest sync", 200,
             response=src.SourcesPublic),
    Endpoint("GET", _SOURCE, sources.get_source, READ,
             "A source and its latest sync", 200, response=src.SourcePublic),
    Endpoint("DELETE", _SOURCE, sources.remove_source, WRITE,
             "Stop syncing a source (?purge=true: delete its items too)", 200,
             response=src.SourceDeleted),
    Endpoint("POST", f"{_SOURCE}/sync", sources.sync_source, WRITE,
             "Sync a source now: ingest what is new or changed, remove what is gone (a job; "
             "409 sync_running while one runs)", 202,
             request=src.SyncRequest, response=s.JobAccepted),
    # Search
    Endpoint("POST", f"{_COLLECTION}/search", search.search, READ,
             "Search a collection", 200, request=q.SearchRequest, response=q.SearchResponse,
             request_examples=SEARCH_EXAMPLES),
    Endpoint("POST", "/v1/search", search.fanout_search, READ,
             "Search several collections", 200,
             request=q.FanoutSearchRequest, response=q.SearchResponse),
    Endpoint("POST", "/v1/classify", search.classify, READ,
             "Zero-shot labels for an image", 200,
             request=q.ClassifyRequest, response=q.ClassifyResponse),
    # Items
    Endpoint("GET", _ITEM, items.get_item, READ,
             "Get an item", 200, response=q.ItemPublic),
    Endpoint("GET", f"{_COLLECTION}/thumbnails/{{item_id:path}}", items.thumbnail, READ,
             "An item's thumbnail (JPEG, at most 256 px a side; a video's frame at ?t=s)", 200,
             media_type="image/jpeg", success="JPEG", example="<JPEG>"),
    Endpoint("GET", f"{_COLLECTION}/media/{{item_id:path}}", items.media, READ,
             "An item's media file (a video to play), with range requests; a key, or a "
             "signed link's expires/sig/tenant", 200,
             media_type="application/octet-stream", success="the file", example="<bytes>"),
    Endpoint("POST", f"{_COLLECTION}/media-links", items.media_link, READ,
             "A signed link to an item's media file, for players that send no key", 200,
             request=q.MediaLinkRequest, response=q.MediaLink),
    Endpoint("PATCH", _ITEM, items.patch_item, WRITE,
             "Change an item's metadata", 200, request=q.ItemPatch, response=q.ItemPublic),
    Endpoint("DELETE", _ITEM, items.delete_item, WRITE,
             "Delete an item", 200, response=q.Deleted),
    Endpoint("POST", f"{_COLLECTION}/items:delete", items.delete_items, WRITE,
             "Delete items by ids, a non-empty filter, or all", 200,
             request=q.ItemsDelete, response=q.Deleted, request_examples=_DELETE_EXAMPLES),
    Endpoint("POST", f"{_COLLECTION}/duplicates", items.duplicates, READ,
             "Near-duplicate groups", 200,
             request=q.DuplicatesRequest, response=q.DuplicatesResponse),
    # Points: items with their vectors
    Endpoint("GET", f"{_COLLECTION}/points", points.read_points, READ,
             "Items with their vectors, a page at a time (?after=CURSOR&limit=100&vectors=true"
             "&filter=JSON)", 200, response=p.PointsPage),
    Endpoint("POST", f"{_COLLECTION}/points", points.write_points, WRITE,
             "Write items with precomputed vectors (no embedding)", 200,
             request=p.PointsUpsert, response=p.PointsWritten),
    # Operations, and the pages for people
    Endpoint("GET", "/", ops.index, OPEN,
             "The web page", 200, plain={200: "HTML"}),
    Endpoint("GET", "/docs", ops.docs, OPEN,
             "Browsable docs", 200, plain={200: "HTML"}),
    Endpoint("GET", "/openapi.json", ops.openapi, OPEN,
             "This document", 200, plain={200: "OpenAPI 3.1"}),
    Endpoint("GET", "/metrics", ops.metrics, OPEN,
             "Prometheus metrics", 200, plain={200: "text exposition"}),
    Endpoint("GET", "/healthz", ops.healthz, OPEN,
             "Liveness", 200, plain={200: "alive", 503: "a dependency it runs is gone"}),
    Endpoint("GET", "/readyz", ops.readyz, OPEN,
             "Readiness (Redis, vector store, encoder)", 200,
             plain={200: "ready", 503: "not ready"}),
)
# fmt: on

BY_NAME: Mapping[str, Endpoint] = {endpoint.name: endpoint for endpoint in ENDPOINTS}
MEDIA = items.media.__name__  # the media route's endpoint name (signed links may open it)


def register_endpoints(app: Flask, endpoints: Iterable[Endpoint] = ENDPOINTS) -> None:
    """Add a Flask rule for each endpoint, named after its handler."""
    app.url_map.converters["anypath"] = AnyPath
    for endpoint in endpoints:
        app.add_url_rule(endpoint.rule, endpoint.name, endpoint.handler, methods=[endpoint.method])
