"""What an ingest batch is made of: items as clients send them, outcomes, and point ids."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from mmsearch.infra.catalog.tenancy import TENANT_FIELD, scoped_id
from mmsearch.infra.jobs.store import ItemFailure
from mmsearch.infra.vectors import CollectionSpec

POINT_NAMESPACE = uuid.UUID("5b0c2d1e-7f43-4c8e-9a59-0d6f3b1c2a10")


@dataclass
class IngestItem:
    """One media reference to index, as clients send it."""

    uri: str
    id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    tenant: str | None = None

    @property
    def external_id(self) -> str:
        return self.id if self.id is not None else self.uri

    @property
    def point_key(self) -> str:
        """What its point id derives from: the external id within its tenant."""
        return scoped_id(self.external_id, self.tenant)

    def to_dict(self) -> dict[str, Any]:
        """The item as a client sends it (what `from_dict` reads)."""
        raw: dict[str, Any] = {"uri": self.uri, "metadata": self.metadata}
        if self.id is not None:
            raw["id"] = self.id
        if self.text is not None:
            raw["text"] = self.text
        if self.tenant is not None:
            raw["tenant"] = self.tenant
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IngestItem:
        return cls(
            uri=raw["uri"],
            id=raw.get("id"),
            metadata=raw.get("metadata") or {},
            text=raw.get("text"),
            tenant=raw.get("tenant"),
        )


@dataclass
class BatchOutcome:
    succeeded: int = 0
    failures: list[ItemFailure] = field(default_factory=list)
    skipped: list[ItemFailure] = field(default_factory=list)
    cancelled: bool = False


def point_id(collection: str, external_id: str) -> str:
    """Deterministic point id: the same item in the same collection is always the same point."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{collection}\x00{external_id}"))


def id_namespace(spec: CollectionSpec) -> str:
    """The name point ids derive from: the name the collection was created under."""
    return str(spec.extra.get("id_namespace", spec.name))


def build_payload(item: IngestItem) -> dict[str, Any]:
    """What a point carries: uri, external id, user metadata, caption text if any."""
    payload: dict[str, Any] = {"uri": item.uri, "id": item.external_id, "metadata": item.metadata}
    if item.text is not None:
        payload["text"] = item.text
    if item.tenant is not None:
        payload[TENANT_FIELD] = item.tenant
    return payload
