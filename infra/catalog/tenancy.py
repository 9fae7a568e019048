"""Tenants: a key bound to a tenant writes items stamped with it and only ever sees those.

The stamp is a top-level payload field that client metadata cannot reach (metadata lives under
`metadata.`), indexed as Qdrant's tenant index. Point ids include the tenant (see `points`), so
two tenants may use the same item id without touching each other's items.
"""

from __future__ import annotations

import re
from typing import Any

from mmsearch.infra.catalog.payload import TENANT_FIELD

TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

Filter = dict[str, Any]

__all__ = ["TENANT_FIELD", "TENANT_NAME", "Filter", "owned", "scoped"]


def scoped(flt: Filter | None, tenant: str | None) -> Filter | None:
    """`flt` narrowed to one tenant's items (unchanged when there is no tenant)."""
    if tenant is None:
        return flt
    own: Filter = {"key": TENANT_FIELD, "match": {"value": tenant}}
    return {"must": [own] if flt is None else [own, flt]}


def owned(payload: dict[str, Any], tenant: str | None) -> bool:
    """Whether a caller of `tenant` may see a point with this payload."""
    return tenant is None or payload.get(TENANT_FIELD) == tenant
