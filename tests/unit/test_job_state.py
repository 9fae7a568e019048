"""A job's rate, as read back from its timestamps."""

from __future__ import annotations

import pytest

from mmsearch.infra.jobs.state import JobState, JobStatus


def job(**fields: object) -> JobState:
    base: dict[str, object] = {
        "job_id": "0" * 32,
        "collection": "pics",
        "status": JobStatus.SUCCEEDED,
        "total": 1000,
        "succeeded": 990,
        "failed": 6,
        "skipped": 4,
        "listing": False,
        "created_at": 100.0,
        "updated_at": 150.0,
        "error_count": 10,
    }
    return JobState(**{**base, **fields})  # type: ignore[arg-type]


def test_a_finished_job_rate_is_its_items_over_its_running_time() -> None:
    # Picked up 10 s after it was created, last counted 40 s later: 1000 items / 40 s.
    assert job(started_at=110.0).items_per_second == pytest.approx(25.0)


def test_a_job_not_yet_picked_up_or_with_nothing_done_has_no_rate() -> None:
    assert job(started_at=None).items_per_second is None
    assert job(started_at=110.0, succeeded=0, failed=0, skipped=0).items_per_second is None
    assert job(started_at=150.0).items_per_second is None  # no time elapsed to divide by
