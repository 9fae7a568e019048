"""API-key check: with keys configured every /v1 request needs one whose scope covers it.

No key or an unknown key: 401 `unauthorized`. A known key without the scope: 403 `forbidden`.
Health, metrics and the OpenAPI document stay open. A key's tenant is kept on `g` for the routes.
"""

from __future__ import annotations

from flask import Flask, g, request

from mmsearch.infra.api_keys import ApiKey, find, parse_entry
from mmsearch.infra.errors import Forbidden, Unauthorized

OPEN_PATHS = frozenset({"/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"})

# Endpoints by the scope they need; any endpoint not listed needs admin.
READ = frozenset(
    {
        "v1.list_collections",
        "v1.get_collection",
        "v1.collection_versions",
        "v1.get_job",
        "v1.list_jobs",
        "retrieval.search",
        "retrieval.fanout_search",
        "retrieval.classify",
        "retrieval.get_item",
        "retrieval.thumbnail",
        "retrieval.duplicates",
    }
)
WRITE = frozenset(
    {
        "v1.ingest",
        "v1.retry_job",
        "v1.cancel_job",
        "retrieval.patch_item",
        "retrieval.delete_item",
        "retrieval.delete_items",
    }
)


def required_scope(endpoint: str | None) -> str:
    if endpoint in READ:
        return "read"
    if endpoint in WRITE:
        return "write"
    return "admin"


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("X-API-Key")


def install_auth(app: Flask, entries: list[str]) -> None:
    """Check keys and scopes on every request but the open paths; no keys configured: open."""
    keys: list[ApiKey] = [parse_entry(entry) for entry in entries]
    if not keys:
        return

    @app.before_request
    def _check_key() -> None:
        if request.path in OPEN_PATHS or request.endpoint == "static":
            return
        key = find(keys, _presented_key() or "")
        if key is None:
            raise Unauthorized("a valid API key is required (Authorization: Bearer <key>)")
        needed = required_scope(request.endpoint) if request.endpoint else "read"  # 404 next
        if not key.allows(needed):
            raise Forbidden(f"this key's scope is {key.scope!r}; this request needs {needed!r}")
        g.api_key_scope, g.tenant = key.scope, key.tenant


def caller_tenant() -> str | None:
    """The tenant the request's key is bound to (None: no tenant, sees every item)."""
    tenant: str | None = g.get("tenant")
    return tenant
