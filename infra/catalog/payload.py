"""What a point carries: the payload layout of an indexed item, written and read here alone.

A point's payload holds the item's media `uri`, its external `id`, the client's `metadata` (every
user field lives under `metadata.`, so filters and indexes on user fields never reach the other
keys), an optional caption `text`, and the `tenant` that owns it when tenants are in use. A frame
of a video also holds `video`: the video item's id, the frame's time in seconds from the start,
and the video's duration; every frame carries the video's uri, id, metadata and caption. An
item kept in sync with a source (mmsearch.infra.sync) holds `source`: the source's id, the
object's key below it and the version of the object it was indexed from; and `sync`: the sync
job that last saw the object.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mmsearch.infra.errors import BadFilter

URI_FIELD = "uri"
ID_FIELD = "id"
METADATA_FIELD = "metadata"
TEXT_FIELD = "text"
TENANT_FIELD = "tenant"
VIDEO_FIELD = "video"
VIDEO_ID_KEY = f"{VIDEO_FIELD}.id"  # the payload path frames of one video share
SOURCE_FIELD = "source"
SOURCE_ID_KEY = f"{SOURCE_FIELD}.id"  # the items of one source
SYNC_FIELD = "sync"

_METADATA_PREFIX = f"{METADATA_FIELD}."
FIELD_NAME = re.compile(
    r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(\[\])?(\.[A-Za-z0-9_][A-Za-z0-9_\-]*(\[\])?)*$"
)


def check_field_name(name: str) -> str:
    """`name` if it is a valid metadata field name (dotted, `[]` for arrays), else BadFilter."""
    if not isinstance(name, str) or not FIELD_NAME.match(name):
        raise BadFilter(f"invalid field name {name!r}", details={"field": str(name)[:100]})
    return name


def metadata_key(name: str) -> str:
    """The payload path of a user metadata field."""
    return _METADATA_PREFIX + check_field_name(name)


def metadata_field(key: str) -> str | None:
    """The user metadata field a payload path names, or None for a path outside metadata."""
    return key.removeprefix(_METADATA_PREFIX) if key.startswith(_METADATA_PREFIX) else None


def metadata_update(metadata: dict[str, Any]) -> dict[str, Any]:
    """The payload keys to set to give a stored item this metadata."""
    return {METADATA_FIELD: metadata}


@dataclass(frozen=True)
class VideoRef:
    """Where a frame sits: in video item `id`, `t` seconds from its start."""

    id: str
    t: float
    duration_s: float = 0.0
    index: int = 0  # its place among the video's chosen frames: 0 is the video item's point

    def to_payload(self) -> dict[str, Any]:
        return {"id": self.id, "t": self.t, "duration_s": self.duration_s, "index": self.index}

    @classmethod
    def from_payload(cls, raw: Any) -> VideoRef | None:
        if not isinstance(raw, dict) or "id" not in raw:
            return None
        t, duration = float(raw.get("t") or 0.0), float(raw.get("duration_s") or 0.0)
        return cls(str(raw["id"]), t, duration, int(raw.get("index") or 0))


@dataclass(frozen=True)
class SourceStamp:
    """Where a synced item comes from: source `id`, the object's `key` below the source, and the
    version of the object it was indexed from (S3: `etag`; folders: `mtime_ns` and the content
    `hash`; `listed_ns`: when that version was listed)."""

    id: str
    key: str
    size: int
    etag: str | None = None
    mtime_ns: int | None = None
    hash: str | None = None
    listed_ns: int | None = None

    def to_payload(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}

    @classmethod
    def from_payload(cls, raw: Any) -> SourceStamp | None:
        if not isinstance(raw, dict) or "id" not in raw or "key" not in raw:
            return None

        def number(name: str) -> int | None:
            value = raw.get(name)
            return int(value) if value is not None else None

        etag, digest = raw.get("etag"), raw.get("hash")
        return cls(
            str(raw["id"]),
            str(raw["key"]),
            int(raw.get("size") or 0),
            etag=str(etag) if etag is not None else None,
            mtime_ns=number("mtime_ns"),
            hash=str(digest) if digest is not None else None,
            listed_ns=number("listed_ns"),
        )


@dataclass(frozen=True)
class ItemPayload:
    """One item's payload, typed: what an indexed point carries besides its vectors."""

    uri: str
    id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    tenant: str | None = None
    video: VideoRef | None = None
    source: SourceStamp | None = None
    sync: str | None = None

    def to_payload(self) -> dict[str, Any]:
        """The payload as stored (no `text`, `tenant`, `video`, `source` or `sync` key when there
        is none)."""
        payload: dict[str, Any] = {
            URI_FIELD: self.uri,
            ID_FIELD: self.id,
            METADATA_FIELD: self.metadata,
        }
        if self.text is not None:
            payload[TEXT_FIELD] = self.text
        if self.tenant is not None:
            payload[TENANT_FIELD] = self.tenant
        if self.video is not None:
            payload[VIDEO_FIELD] = self.video.to_payload()
        if self.source is not None:
            payload[SOURCE_FIELD] = self.source.to_payload()
        if self.sync is not None:
            payload[SYNC_FIELD] = self.sync
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any], fallback_id: str | None = None) -> ItemPayload:
        """Read a stored payload; an item without a stored id is `fallback_id`, else its uri."""
        uri = str(payload.get(URI_FIELD) or "")
        stored_id = payload.get(ID_FIELD)
        if stored_id is not None:
            item_id = str(stored_id)
        else:
            item_id = fallback_id if fallback_id is not None else uri
        return cls(
            uri=uri,
            id=item_id,
            metadata=dict(payload.get(METADATA_FIELD) or {}),
            text=payload.get(TEXT_FIELD),
            tenant=payload.get(TENANT_FIELD),
            video=VideoRef.from_payload(payload.get(VIDEO_FIELD)),
            source=SourceStamp.from_payload(payload.get(SOURCE_FIELD)),
            sync=str(payload[SYNC_FIELD]) if payload.get(SYNC_FIELD) else None,
        )

    def public(self) -> dict[str, Any]:
        """What clients see of the item: its id, uri, metadata and caption text (and where in
        its video a frame is, and the source it is synced from)."""
        shown = {"id": self.id, "uri": self.uri, "metadata": self.metadata, "text": self.text}
        if self.video is not None:
            shown["video"] = {"id": self.video.id, "t": self.video.t}
        if self.source is not None:
            shown["source"] = {"id": self.source.id, "key": self.source.key}
        return shown

    def with_metadata(self, metadata: dict[str, Any]) -> ItemPayload:
        """The same item with other metadata."""
        return replace(self, metadata=metadata)
