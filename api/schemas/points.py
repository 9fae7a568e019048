"""Typed bodies of the points endpoints: items read and written with their vectors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, Json

from mmsearch.api.schemas.queries import ItemId
from mmsearch.api.schemas.resources import MAX_TEXT, BoundedMetadata, Strict

MAX_PAGE = 1000
VectorName = Literal["image", "text"]
Tenant = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class PointsQuery(Strict):
    """The query string of a points read: a page after a cursor, optionally filtered."""

    after: str | None = Field(default=None, description="the `next` cursor of the page before")
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)
    vectors: bool = Field(default=True, description="include the vectors as float lists")
    filter: Json[dict[str, Any]] | None = Field(
        default=None, description="a metadata filter as JSON, as search takes it"
    )


class FrameOf(BaseModel):
    """A video frame's place: the video item's id, seconds from its start, the video's
    duration, and which of its chosen frames it is."""

    id: str = Field(min_length=1, max_length=1024)
    t: float = Field(ge=0.0, le=1e7)
    duration_s: float = Field(default=0.0, ge=0.0, le=1e7)
    index: int = Field(default=0, ge=0, le=1_000_000, description="0: the video item's point")


class SyncedFrom(BaseModel):
    """A synced item's source stamp: the source, the object's key below it, and the version of
    the object it was indexed from (an import keeps it, so a later sync finds it unchanged)."""

    id: str = Field(min_length=1, max_length=100)
    key: str = Field(min_length=1, max_length=2048)
    size: int = Field(ge=0)
    etag: str | None = Field(default=None, max_length=200)
    mtime_ns: int | None = None
    hash: str | None = Field(default=None, max_length=200)
    listed_ns: int | None = None


class PointPublic(BaseModel):
    id: str = Field(description="the item id (as given at ingest)")
    uri: str
    metadata: dict[str, Any]
    text: str | None = None
    tenant: str | None = Field(default=None, description="the tenant that owns it, if any")
    vectors: dict[str, list[float]] = Field(
        default_factory=dict, description="named vectors (image, text); empty unless asked"
    )
    video: FrameOf | None = Field(default=None, description="set on a frame of a video")
    source: SyncedFrom | None = Field(default=None, description="set on an item of a source")


class PointsPage(BaseModel):
    data: list[PointPublic]
    next: str | None = Field(description="the cursor of the next page; null after the last")


class PointIn(Strict):
    """An item with precomputed vectors of the collection's model."""

    id: ItemId
    uri: str = Field(min_length=1, max_length=2048)
    metadata: BoundedMetadata = Field(default_factory=dict)
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    tenant: Tenant | None = Field(
        default=None, description="the owning tenant (a tenant key writes only its own)"
    )
    vectors: dict[VectorName, list[float]] = Field(
        min_length=1,
        description="unit length (within 1%, re-normalised) of the collection's dimension",
    )
    video: FrameOf | None = Field(
        default=None, description="a frame of video `video.id` (then `id` is the same)"
    )
    source: SyncedFrom | None = Field(default=None, description="an item of a source")


class PointsUpsert(Strict):
    points: list[PointIn] = Field(min_length=1)


class PointsWritten(BaseModel):
    upserted: int
