"""Typed bodies of a collection's sources: buckets and folders it is kept in sync with."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from mmsearch.api.schemas.omits import OmitsUnset
from mmsearch.api.schemas.resources import AutoLabelsIn, BoundedMetadata, Strict, VideoIn
from mmsearch.infra.jobs.store import JobStatus
from mmsearch.infra.sync.sources import compile_patterns


def _pattern(value: str) -> str:
    compile_patterns([value])  # ValueError: 422 naming the pattern
    return value


Pattern = Annotated[str, Field(min_length=1, max_length=512), AfterValidator(_pattern)]
_PATTERNS = "gitignore-style patterns on the key below the source (`*.jpg`, `raw/`, `2024/**`)"


class SourceCreate(Strict):
    uri: str = Field(
        min_length=1,
        max_length=2048,
        description="an `s3://bucket/prefix/` or a `file:///folder/` (a trailing / is implied)",
    )
    include: list[Pattern] = Field(
        default_factory=list, max_length=100, description=f"take only objects matching: {_PATTERNS}"
    )
    exclude: list[Pattern] = Field(
        default_factory=list, max_length=100, description="leave out objects matching these"
    )
    metadata: BoundedMetadata = Field(
        default_factory=dict, description="stamped on every item (an item's own edits win)"
    )
    interval_s: int | None = Field(
        default=None,
        ge=1,
        le=366 * 86_400,
        description="sync this often (the first one this long after the source is added); "
        "null: only when asked",
    )
    captions: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="a caption manifest (CSV or JSON Lines: key, caption), as a key below the "
        "source or a reference",
    )
    id_prefix: str = Field(
        default="", max_length=256, description="item ids are this followed by the object's key"
    )
    auto_labels: AutoLabelsIn | None = None
    dedup_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    video: VideoIn | None = None


class SyncSummary(OmitsUnset):
    """A source's latest sync: its job and what it found."""

    job_id: str
    status: JobStatus | None = Field(description="null once the job's record has expired")
    started_at: str
    dry_run: bool = False
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0
    pending: int = 0


class SourcePublic(OmitsUnset):
    source_id: str
    collection: str
    uri: str
    include: list[str]
    exclude: list[str]
    metadata: dict[str, object]
    interval_s: int | None
    captions: str | None
    id_prefix: str
    options: dict[str, object] = Field(description="ingest options its syncs run with")
    created_at: str
    syncing: bool = Field(description="whether a sync of it is running now")
    last_sync: SyncSummary | None = Field(description="null before its first sync")
    next_sync_at: str | None = Field(
        default=None, description="when its schedule starts the next sync (interval_s only)"
    )


class SourcesPublic(BaseModel):
    data: list[SourcePublic]
    count: int


class SyncRequest(Strict):
    dry_run: bool = Field(
        default=False, description="only list and compare: count, ingest and remove nothing"
    )


class RemoveQuery(Strict):
    purge: bool = Field(default=False, description="also delete the source's items")


class SourceDeleted(BaseModel):
    source_id: str
    deleted: bool
    purged: int = Field(description="items of it deleted (`?purge=true`), else 0")
