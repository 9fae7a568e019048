"""What a job is, as read back from the job store: its status, counters and item failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.COMPLETED_WITH_ERRORS, JobStatus.FAILED, JobStatus.CANCELLED}
)


@dataclass
class ItemFailure:
    """One item's failure as recorded against the job; `item` (the item as sent) is kept apart
    so a retry can send it again."""

    uri: str | None
    id: str | None
    code: str
    message: str
    item: dict[str, Any] | None = None

    def public(self) -> dict[str, Any]:
        return {"uri": self.uri, "id": self.id, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class SyncCounts:
    """What a source's sync found: objects new, changed, unchanged and gone (their items
    removed); `dry_run`: it only compared (nothing ingested or removed)."""

    source_id: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    dry_run: bool = False

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> SyncCounts | None:
        """The counts of a sync job's hash (None: not a sync job)."""
        if not fields.get("sync_source"):
            return None
        counts = {name: int(fields.get(name, 0)) for name in SYNC_COUNTERS}
        return cls(fields["sync_source"], **counts, dry_run=fields.get("dry_run") == "1")


SYNC_COUNTERS = ("added", "updated", "unchanged", "removed")


@dataclass
class JobState:
    job_id: str
    collection: str
    status: JobStatus
    total: int
    succeeded: int
    failed: int
    skipped: int
    listing: bool
    created_at: float
    updated_at: float
    error_count: int
    errors: list[ItemFailure] = field(default_factory=list)
    message: str | None = None
    switch_alias: str | None = None
    switch_due: bool = False  # counted complete (`counted`), its alias switch still to run
    counted: JobStatus | None = None
    options: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    tenant: str | None = None
    incarnation: str | None = None
    started_at: float | None = None
    loaded: int = 0  # items of batches in flight fetched and decoded (or refused)
    embedded: int = 0  # of those, items embedded
    videos: int = 0  # of the succeeded items, videos
    frames: int = 0  # their frames indexed
    sync: SyncCounts | None = None  # a source's sync: what it found

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.skipped

    @property
    def pending(self) -> int:
        return max(0, self.total - self.done)

    @property
    def processing(self) -> dict[str, int]:
        """Progress of the batches in flight, within the pending items; none once final."""
        if self.status in FINAL_STATUSES:
            return {"loaded": 0, "embedded": 0}
        loaded = min(self.loaded, self.pending)
        return {"loaded": loaded, "embedded": min(self.embedded, loaded)}

    @property
    def items_per_second(self) -> float | None:
        """Items done per second from the first pickup to the last count (None before)."""
        if self.started_at is None or self.updated_at <= self.started_at or not self.done:
            return None
        return self.done / (self.updated_at - self.started_at)


def switch_due(fields: dict[str, str], counted: JobStatus) -> bool:
    """Whether a re-embed whose items are all counted has yet to switch its alias (its last
    step); until then it reports running, so that whoever sees it finished finds the new version
    serving."""
    ended = counted in (JobStatus.SUCCEEDED, JobStatus.COMPLETED_WITH_ERRORS, JobStatus.FAILED)
    return fields.get("switched") == "0" and ended and not fields.get("fatal")


def derive_status(fields: dict[str, str], done: int, total: int) -> JobStatus:
    """The status the job's counters and marks give (before its alias switch, if any)."""
    if fields.get("cancelled") == "1":
        return JobStatus.CANCELLED
    if fields.get("fatal"):
        return JobStatus.FAILED
    if fields.get("listing") == "1":
        return JobStatus.RUNNING if fields.get("started_at") else JobStatus.QUEUED
    if done >= total:
        failed = int(fields.get("failed", 0))
        if failed == 0:
            return JobStatus.SUCCEEDED
        return JobStatus.FAILED if failed >= total else JobStatus.COMPLETED_WITH_ERRORS
    return JobStatus.RUNNING if fields.get("started_at") else JobStatus.QUEUED
