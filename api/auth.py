"""API-key check: with keys configured every request needs a key whose scope covers the endpoint,
as the endpoint table declares it.

No key or an unknown key: 401 `unauthorized`. A known key without the scope: 403 `forbidden`.
Open endpoints (the web page, health, metrics, the OpenAPI document and its docs page) and the
static files need no key. A key's tenant is kept on `g` for the routes. A media request may
show a signed link instead (see mmsearch.api.services.media): the link's tenant is kept then.
"""

from __future__ import annotations

from flask import Flask, g, request

from mmsearch.api.http import BY_NAME, ENDPOINTS, MEDIA, Scope
from mmsearch.api.services.media import LinkSigner
from mmsearch.infra.api_keys import ApiKey, find, parse_entry
from mmsearch.infra.errors import Forbidden, Unauthorized

# By path as well as by endpoint, so another method on an open path gets its 405 without a key.
OPEN_PATHS = frozenset(e.openapi_path for e in ENDPOINTS if e.scope is Scope.OPEN)


def required_scope(endpoint: str | None) -> Scope:
    """The scope a request routed to this Flask endpoint needs."""
    if endpoint is None:  # no such route: any valid key may learn that (404 or 405 next)
        return Scope.READ
    if endpoint == "static":
        return Scope.OPEN
    return BY_NAME[endpoint].scope  # a route missing from the table fails closed (500)


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("X-API-Key")


def install_auth(app: Flask, entries: list[str], links: LinkSigner | None = None) -> None:
    """Check keys and scopes on every request but open ones; no keys configured: all open. A
    media request may show a signed link (`links`) instead of a key."""
    keys: list[ApiKey] = [parse_entry(entry) for entry in entries]
    if not keys:
        return

    @app.before_request
    def _check_key() -> None:
        if request.path in OPEN_PATHS:
            return
        needed = required_scope(request.endpoint)
        if needed is Scope.OPEN:
            return
        if links is not None and request.endpoint == MEDIA and "sig" in request.args:
            view = request.view_args or {}
            g.api_key_scope = "read"
            g.tenant = links.check(str(view.get("name")), str(view.get("item_id")))
            return
        key = find(keys, _presented_key() or "")
        if key is None:
            raise Unauthorized("a valid API key is required (Authorization: Bearer <key>)")
        if not key.allows(needed):
            raise Forbidden(
                f"this key's scope is {key.scope!r}; this request needs {needed.value!r}"
            )
        g.api_key_scope, g.tenant = key.scope, key.tenant
