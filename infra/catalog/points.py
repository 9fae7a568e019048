"""Point ids: deterministic, so writing the same item again (a retry, a re-ingest) overwrites it.

An item's point id is a uuid5 of the collection's id namespace and the item's external id within
its tenant. The namespace is the name the collection was first created under, so every version
of a collection gives an item the same id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from mmsearch.infra.vectors.types import CollectionSpec

POINT_NAMESPACE = uuid.UUID("5b0c2d1e-7f43-4c8e-9a59-0d6f3b1c2a10")


def point_id(namespace: str, key: str) -> str:
    """The point id of `key` (an item's tenant-scoped id) in a collection's id namespace."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{namespace}\x00{key}"))


def scoped_id(external_id: str, tenant: str | None) -> str:
    """The key a point id derives from: the item id, within its tenant."""
    return external_id if tenant is None else f"{tenant}\x00{external_id}"


def id_namespace(spec: CollectionSpec) -> str:
    """The name a collection's point ids derive from: the name it was created under."""
    return spec.id_namespace or spec.name


def item_point_id(spec: CollectionSpec, external_id: str, tenant: str | None = None) -> str:
    """The point id of an item in a collection (within `tenant`)."""
    return point_id(id_namespace(spec), scoped_id(external_id, tenant))


def item_point_ids(
    spec: CollectionSpec, external_ids: Iterable[str], tenant: str | None = None
) -> list[str]:
    """Point ids of items named by their external ids (within `tenant`)."""
    return [item_point_id(spec, external_id, tenant) for external_id in external_ids]
