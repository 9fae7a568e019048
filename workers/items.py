"""What an ingest batch is made of: items as clients send them, and outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from mmsearch.infra.catalog.payload import ItemPayload, SourceStamp, VideoRef
from mmsearch.infra.catalog.points import item_point_id
from mmsearch.infra.catalog.videos import frame_point_id
from mmsearch.infra.jobs.store import ItemFailure
from mmsearch.infra.vectors import CollectionSpec

_CLIENT_FIELDS = ("uri", "id", "metadata", "text", "tenant")


@dataclass
class IngestItem:
    """One media reference to index, as clients send it."""

    uri: str
    id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    tenant: str | None = None
    video: VideoRef | None = None  # set on one frame of a video item (never sent by clients)
    source: SourceStamp | None = None  # set by a source's sync (never sent by clients)
    sync: str | None = None  # the sync job that sent it

    @property
    def external_id(self) -> str:
        return self.id if self.id is not None else self.uri

    def point_id(self, spec: CollectionSpec) -> str:
        """Its point id in a collection (the same in every version of the collection)."""
        if self.video is not None:
            video = self.video
            return frame_point_id(spec, self.external_id, video.t, video.index, self.tenant)
        return item_point_id(spec, self.external_id, self.tenant)

    def payload(self) -> ItemPayload:
        """What its point carries: the same fields, with the id it is known by."""
        return ItemPayload(
            **{**self._fields(), "id": self.external_id},
            video=self.video,
            source=self.source,
            sync=self.sync,
        )

    def frame(self, t: float, duration_s: float, index: int) -> IngestItem:
        """This video item's frame `t` seconds from its start, the `index`th chosen."""
        where = VideoRef(self.external_id, round(t, 3), round(duration_s, 3), index)
        return replace(self, video=where)

    def _fields(self) -> dict[str, Any]:
        """The fields clients send (the others are typed: copied apart)."""
        return {name: getattr(self, name) for name in _CLIENT_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """The item as a client sends it (what `from_dict` reads)."""
        raw: dict[str, Any] = {"uri": self.uri, "metadata": self.metadata}
        if self.id is not None:
            raw["id"] = self.id
        if self.text is not None:
            raw["text"] = self.text
        if self.tenant is not None:
            raw["tenant"] = self.tenant
        if self.source is not None:
            raw["source"] = self.source.to_payload()
        if self.sync is not None:
            raw["sync"] = self.sync
        return raw

    @classmethod
    def from_payload(cls, payload: ItemPayload) -> IngestItem:
        """The item a stored point was indexed from (to index it again; a frame's: its
        video)."""
        fields = {name: getattr(payload, name) for name in _CLIENT_FIELDS}
        return cls(**fields, source=payload.source, sync=payload.sync)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IngestItem:
        return cls(
            uri=raw["uri"],
            id=raw.get("id"),
            metadata=raw.get("metadata") or {},
            text=raw.get("text"),
            tenant=raw.get("tenant"),
            source=SourceStamp.from_payload(raw.get("source")),
            sync=raw.get("sync"),
        )


@dataclass
class BatchOutcome:
    succeeded: int = 0
    failures: list[ItemFailure] = field(default_factory=list)
    skipped: list[ItemFailure] = field(default_factory=list)
    cancelled: bool = False
    videos: int = 0  # of the succeeded items, videos
    frames: int = 0  # their frames indexed


def item_failure(item: IngestItem, code: str, message: str) -> ItemFailure:
    """A failure recorded against one item (the message cut to 500 characters)."""
    return ItemFailure(
        uri=item.uri, id=item.id, code=code, message=message[:500], item=item.to_dict()
    )
