"""`mmsearch jobs` and the live progress of ingest jobs: what they are doing, a bar that moves
inside a batch, and each job's own rate."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from mmsearch.api.cli.http_client import ApiClient, UsageError, client_for, print_json
from mmsearch.api.cli.progress import progress_bar

FINAL = {"succeeded", "completed_with_errors", "failed", "cancelled"}


class Progress:
    """A bar over jobs: items done plus those embedded in batches in flight, and the phase."""

    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        self.loaded, self.embedded = _in_flight(jobs)
        self.phase = "fetching and decoding"
        self.bar = progress_bar(
            total=_total(jobs),
            initial=_position(jobs),  # the rate counts only what this watch saw move
            unit="img",
            desc=self.describe(jobs),
        )

    def describe(self, jobs: list[dict[str, Any]]) -> str:
        """The phase in words; fetching or embedding is told by which count moved last."""
        if all(j["status"] in FINAL for j in jobs):
            return "done"
        if all(j["status"] == "queued" for j in jobs):
            return "queued: waiting for a worker"
        if any(j["listing"] for j in jobs):
            return "listing"
        loaded, embedded = _in_flight(jobs)
        if embedded > self.embedded:
            self.phase = "embedding"
        elif loaded > self.loaded:
            self.phase = "fetching and decoding"
        self.loaded, self.embedded = loaded, embedded
        return self.phase

    def show(self, jobs: list[dict[str, Any]]) -> None:
        self.bar.total = _total(jobs)
        self.bar.n = _position(jobs)
        self.bar.set_description(self.describe(jobs), refresh=False)
        self.bar.set_postfix(failed=sum(j["failed"] for j in jobs), refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _done(job: dict[str, Any]) -> int:
    return int(job["succeeded"] + job["failed"] + job["skipped"])


def _in_flight(jobs: list[dict[str, Any]]) -> tuple[int, int]:
    processing = [j.get("processing") or {"loaded": 0, "embedded": 0} for j in jobs]
    return sum(p["loaded"] for p in processing), sum(p["embedded"] for p in processing)


def _position(jobs: list[dict[str, Any]]) -> int:
    return sum(_done(j) for j in jobs) + _in_flight(jobs)[1]


def _total(jobs: list[dict[str, Any]]) -> int | None:
    counting = any(j["total"] is None or j["listing"] for j in jobs)
    return None if counting else sum(j["total"] for j in jobs)


def watch(client: ApiClient, job_ids: list[str], interval_s: float = 0.5) -> int:
    """A live progress bar over the jobs until all are final; 0 when no item failed.
    Jobs already final print their summary alone."""
    jobs = [client.job(job_id, errors_limit=10) for job_id in job_ids]
    if not all(j["status"] in FINAL for j in jobs):
        progress = Progress(jobs)
        while not all(j["status"] in FINAL for j in jobs):
            time.sleep(interval_s)
            jobs = [client.job(job_id, errors_limit=10) for job_id in job_ids]
            progress.show(jobs)
        progress.close()
    for job in jobs:
        print(summary(job))
        for error in job["errors"]:
            print(f"  {error['code']}: {error['uri']}: {error['message']}")
    return 0 if all(j["status"] == "succeeded" for j in jobs) else 1


def summary(job: dict[str, Any]) -> str:
    """One line on a job: its counts and its own rate (from its timestamps), when it has one."""
    rate = job.get("items_per_second")
    return (
        f"job {job['job_id']}: {job['status']}: {job['succeeded']} indexed, "
        f"{job['failed']} failed, {job['skipped']} skipped of {job['total']}"
        + (f", {rate:.1f} img/s" if rate else "")
    )


def list_jobs(client: ApiClient, limit: int) -> None:
    """The recent jobs as a table, newest first."""
    print(
        f"{'job':<32}  {'collection':<24} {'status':<21} {'done/total':>13} {'failed':>7}  created"
    )
    for job in client.jobs(limit):
        counts = f"{_done(job)}/{job['total']}"
        created = job["created_at"][:19].replace("T", " ")
        print(
            f"{job['job_id']:<32}  {job['collection'][:24]:<24} {job['status']:<21} "
            f"{counts:>13} {job['failed']:>7}  {created}"
        )


def cmd_jobs(args: argparse.Namespace) -> int:
    client = client_for(args)
    if args.action == "list":
        list_jobs(client, args.limit)
        return 0
    if not args.job_id:
        raise UsageError(f"jobs {args.action} needs a JOB_ID (`mmsearch jobs list` shows them)")
    if args.action == "watch":
        return watch(client, [args.job_id])
    if args.action == "show":
        print_json(client.job(args.job_id, errors_limit=1000))
    elif args.action == "cancel":
        return cancel(client, args.job_id)
    else:
        codes = [code.strip() for code in (args.codes or "").split(",") if code.strip()]
        accepted = client.call("POST", f"/v1/jobs/{args.job_id}/retry", json={"codes": codes})
        count = accepted["requeued"]
        print(f"job {args.job_id}: {count} failed item{'' if count == 1 else 's'} sent again")
        return watch(client, [args.job_id])
    return 0


def cancel(client: ApiClient, job_id: str) -> int:
    """Cancel a job and print it as `jobs show` does; 1 when it had already finished, so that
    nothing was cancelled (the API leaves a finished job as it was)."""
    before = client.job(job_id, errors_limit=0)["status"]
    after = client.call("DELETE", f"/v1/jobs/{job_id}")["status"]
    print_json(client.job(job_id, errors_limit=1000))
    if before != "cancelled" and after == "cancelled":
        return 0
    print(
        f"mmsearch: job {job_id} had already finished ({after}): nothing was cancelled",
        file=sys.stderr,
    )
    return 1


def add_jobs_arguments(jobs: argparse.ArgumentParser) -> None:
    """The `mmsearch jobs` arguments."""
    jobs.add_argument("action", choices=["list", "watch", "show", "cancel", "retry"])
    jobs.add_argument("job_id", nargs="?", help="the job (not for list)")
    jobs.add_argument("--limit", type=int, default=20, help="for list: how many (newest first)")
    jobs.add_argument(
        "--codes",
        default=None,
        metavar="CODE,CODE",
        help="for retry: only items that failed with these codes (e.g. fetch_failed)",
    )
