"""`mmsearch sources`: keep a collection in sync with buckets and folders.

mmsearch sources add photos s3://photos/2024/ --include '*.jpg' --interval 3600 --sync
mmsearch sources list photos
mmsearch sources sync photos SOURCE_ID [--dry-run]
mmsearch sources remove photos SOURCE_ID [--purge]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mmsearch.api.cli.http_client import ApiClient, UsageError, client_for, print_json
from mmsearch.api.cli.jobs_commands import watch
from mmsearch.infra.media.uris import file_uri

ACTIONS = ["add", "list", "show", "sync", "remove"]


def source_uri(text: str) -> str:
    """A reference as given, or a local folder's `file://` reference."""
    if "://" in text:
        return text
    folder = Path(text).expanduser()
    if not folder.is_dir():
        raise UsageError(f"{text}: not a folder, an s3:// prefix or a file:// reference")
    return file_uri(folder.resolve())


def _metadata(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--metadata is not JSON: {exc.msg}") from exc
    if not isinstance(value, dict):
        raise UsageError("--metadata must be a JSON object")
    return value


def sync_line(job: dict[str, Any]) -> str:
    """What a sync found, in one line."""
    counts = ", ".join(f"{name} {job.get(name, 0)}" for name in _COUNTS)
    return f"sync {job['job_id']}: {counts}" + (" (dry run)" if job.get("dry_run") else "")


_COUNTS = ("added", "updated", "removed", "unchanged")


def _sync(client: ApiClient, collection: str, source_id: str, args: argparse.Namespace) -> int:
    path = f"/v1/collections/{collection}/sources/{source_id}/sync"
    job_id = client.call("POST", path, json={"dry_run": args.dry_run})["job_id"]
    if args.detach:
        print(job_id)
        return 0
    code = watch(client, [job_id])
    print(sync_line(client.job(job_id, errors_limit=0)))
    return code


def _list(client: ApiClient, collection: str) -> None:
    sources = client.call("GET", f"/v1/collections/{collection}/sources")["data"]
    print(f"{'source':<20}  {'uri':<40} {'every':>7}  last sync (+added ~updated -removed =same)")
    for source in sources:
        last = source.get("last_sync")
        every = f"{source['interval_s']}s" if source.get("interval_s") else "-"
        said = "never"
        if last:
            marks = zip("+~-=", _COUNTS, strict=True)
            counts = " ".join(f"{mark}{last[name]}" for mark, name in marks)
            said = f"{last['started_at'][:19].replace('T', ' ')} {last['status']} {counts}"
        print(f"{source['source_id']:<20}  {source['uri'][:40]:<40} {every:>7}  {said}")


def cmd_sources(args: argparse.Namespace) -> int:
    client = client_for(args)
    base = f"/v1/collections/{args.collection}/sources"
    if args.action == "list":
        _list(client, args.collection)
        return 0
    if not args.target:
        what = "a folder or s3:// prefix" if args.action == "add" else "a SOURCE_ID"
        raise UsageError(f"sources {args.action} needs {what}")
    if args.action == "add":
        body = {
            "uri": source_uri(args.target),
            "include": args.include,
            "exclude": args.exclude,
            "metadata": _metadata(args.metadata),
            "interval_s": args.interval,
            "captions": args.captions,
            "id_prefix": args.id_prefix,
        }
        added = client.call("POST", base, json=body)
        print(added["source_id"])
        return _sync(client, args.collection, added["source_id"], args) if args.sync else 0
    if args.action == "show":
        print_json(client.call("GET", f"{base}/{args.target}"))
    elif args.action == "sync":
        return _sync(client, args.collection, args.target, args)
    else:
        removed = client.call(
            "DELETE", f"{base}/{args.target}", params={"purge": str(args.purge).lower()}
        )
        print(f"source {args.target} removed; {removed['purged']} items deleted")
    return 0


def add_sources_arguments(parser: argparse.ArgumentParser) -> None:
    """The `mmsearch sources` arguments."""
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("collection")
    parser.add_argument("target", nargs="?", help="add: folder or s3:// prefix; else SOURCE_ID")
    parser.add_argument("--include", action="append", default=[], metavar="PATTERN")
    parser.add_argument("--exclude", action="append", default=[], metavar="PATTERN")
    parser.add_argument("--metadata", default=None, metavar="JSON", help="stamped on its items")
    parser.add_argument("--interval", type=int, default=None, metavar="S", help="sync every S s")
    parser.add_argument("--captions", default=None, help="caption manifest below the source")
    parser.add_argument("--id-prefix", default="", help="item ids: this + the key")
    parser.add_argument("--sync", action="store_true", help="add: sync it now")
    parser.add_argument("--dry-run", action="store_true", help="sync: only compare and count")
    parser.add_argument("--detach", action="store_true", help="sync: print the job id, no wait")
    parser.add_argument("--purge", action="store_true", help="remove: delete its items too")
