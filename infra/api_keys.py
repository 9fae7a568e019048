"""API keys: stored only as SHA-256 digests, each with a scope.

A configured entry is `sha256:<64 hex digits>[:read|write|admin[:tenant]]` (admin when no scope
is given). Scopes nest: `write` may also read, `admin` may do anything. A key bound to a tenant
(read or write only) sees and writes that tenant's items alone. `mmsearch hash-key` prints the
entry for a key; the key itself never appears in configuration, logs or responses.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from mmsearch.infra.catalog.tenancy import TENANT_NAME

SCOPES = ("read", "write", "admin")
_ENTRY = re.compile(r"^sha256:([0-9a-f]{64})(?::(read|write|admin)(?::([^:]+))?)?$")
_PLACEHOLDERS = {"changeme", "change-me", "secret", "password"}
MIN_KEY_LENGTH = 16


@dataclass(frozen=True)
class ApiKey:
    digest: bytes
    scope: str
    tenant: str | None = None

    def allows(self, needed: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(needed)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_entry(entry: str) -> ApiKey:
    """One configured entry; ValueError says what a valid one looks like."""
    match = _ENTRY.match(entry.strip().lower())
    if match is None:
        raise ValueError(
            "MMSEARCH_API_KEYS entries are sha256:<64 hex digits>[:read|write|admin[:tenant]]; "
            "plaintext keys are not accepted (`mmsearch hash-key` prints the entry for a key)"
        )
    scope, tenant = match.group(2) or "admin", match.group(3)
    if tenant is not None:
        _check_tenant(tenant, scope)
    return ApiKey(bytes.fromhex(match.group(1)), scope, tenant)


def _check_tenant(tenant: str, scope: str) -> None:
    if not TENANT_NAME.match(tenant):
        raise ValueError("a tenant name matches ^[a-z0-9][a-z0-9_-]{0,63}$")
    if scope == "admin":
        raise ValueError("a tenant key's scope is read or write (admin acts on whole collections)")


def entry_for(key: str, scope: str = "admin", tenant: str | None = None) -> str:
    """The configuration entry for a key; ValueError for a short or placeholder key."""
    if len(key) < MIN_KEY_LENGTH or key.lower() in _PLACEHOLDERS:
        raise ValueError(f"an API key needs {MIN_KEY_LENGTH}+ characters and no placeholder")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    if tenant is not None:
        _check_tenant(tenant, scope)
        return f"sha256:{digest(key).hex()}:{scope}:{tenant}"
    return f"sha256:{digest(key).hex()}:{scope}"


def new_key() -> str:
    """A fresh random key (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def find(keys: list[ApiKey], presented: str) -> ApiKey | None:
    """The configured key matching `presented`, comparing every digest in constant time."""
    wanted, found = digest(presented), None
    for key in keys:
        if hmac.compare_digest(wanted, key.digest) and found is None:
            found = key
    return found
