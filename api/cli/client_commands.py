"""The CLI's client commands: collections, ingest (with a live progress bar), jobs, search.

They talk to the HTTP API (`--api-url` or MMSEARCH_API_URL, key in MMSEARCH_API_KEY), so they
work the same against compose and the embedded default.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mmsearch.api.cli.http_client import ApiClient, ApiError
from mmsearch.infra.media.storage import is_image_name
from mmsearch.infra.media.uris import file_uri

FINAL = {"succeeded", "completed_with_errors", "failed", "cancelled"}
ITEM_FIELDS = {"uri", "id", "text", "metadata"}


def _client(args: argparse.Namespace) -> ApiClient:
    return ApiClient(args.api_url)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def manifest_items(path: Path) -> Iterator[dict[str, Any]]:
    """Items of a CSV (header `uri,id,text,<metadata columns>`) or JSONL manifest."""
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                yield _item({k: v for k, v in row.items() if k and v not in (None, "")})
        return
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield _item(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SystemExit(f"{path}:{number}: not JSON ({exc.msg})") from exc


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    if not raw.get("uri"):
        raise SystemExit(f"manifest row without a uri: {raw}")
    item = {k: raw[k] for k in ("uri", "id", "text") if raw.get(k) is not None}
    metadata = dict(raw.get("metadata") or {})
    metadata.update({k: v for k, v in raw.items() if k not in ITEM_FIELDS})
    if metadata:
        item["metadata"] = metadata
    return item


def folder_items(folder: Path) -> Iterator[dict[str, Any]]:
    """file:// items for the images under a local folder, ids relative to it."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and is_image_name(path.name):
            yield {"uri": file_uri(path.resolve()), "id": str(path.relative_to(folder))}


def upload_folder(folder: Path, target: str) -> Iterator[dict[str, Any]]:
    """Upload a folder's images under an s3:// prefix (MMSEARCH_S3_* settings); their items."""
    from mmsearch.infra.media.storage import ObjectStore
    from mmsearch.infra.settings import get_settings

    objects = ObjectStore(get_settings())
    prefix = objects.parse(target if target.endswith("/") else target + "/", prefix=True)
    paths = [item["id"] for item in folder_items(folder)]
    for relative in tqdm(paths, unit="img", desc="upload", file=sys.stderr):
        key = f"{prefix.path}{relative}"
        objects.s3.upload_file(str(folder / relative), prefix.bucket, key)
        yield {"uri": f"s3://{prefix.bucket}/{key}", "id": relative}


def submit(
    client: ApiClient, collection: str, source: str, batch: int, upload: str | None = None
) -> list[str]:
    """Send one ingest request per `batch` items (or one prefix request); the job ids."""
    if source.startswith("s3://"):
        return [client.ingest(collection, {"prefix": source})["job_id"]]
    path = Path(source)
    if upload is not None and not path.is_dir():
        raise SystemExit("--upload takes a folder")
    if upload is not None:
        items = list(upload_folder(path, upload))
    elif path.is_dir():
        items = list(folder_items(path))
    elif path.is_file() and path.suffix.lower() in {".csv", ".jsonl", ".ndjson"}:
        items = list(manifest_items(path))
    elif path.is_file():
        items = [{"uri": file_uri(path.resolve()), "id": path.name}]
    else:
        raise SystemExit(f"{source}: not an s3:// prefix, a folder, an image or a manifest")
    if not items:
        raise SystemExit(f"{source}: no images found")
    chunks = [items[i : i + batch] for i in range(0, len(items), batch)]
    return [client.ingest(collection, {"items": chunk})["job_id"] for chunk in chunks]


def watch(client: ApiClient, job_ids: list[str], interval_s: float = 0.5) -> int:
    """A live progress bar over the jobs until all are final; 0 when no item failed."""
    bar = tqdm(total=None, unit="img", dynamic_ncols=True, file=sys.stderr)
    while True:
        jobs = [client.job(job_id, errors_limit=10) for job_id in job_ids]
        counting = any(j["total"] is None or j["listing"] for j in jobs)
        bar.total = None if counting else sum(j["total"] for j in jobs)
        done = sum(j["succeeded"] + j["failed"] + j["skipped"] for j in jobs)
        bar.update(done - bar.n)
        bar.set_postfix(failed=sum(j["failed"] for j in jobs), refresh=False)
        if all(j["status"] in FINAL for j in jobs):
            break
        time.sleep(interval_s)
    bar.close()
    for job in jobs:
        print(
            f"job {job['job_id']}: {job['status']}: {job['succeeded']} indexed, "
            f"{job['failed']} failed, {job['skipped']} skipped of {job['total']}"
        )
        for error in job["errors"]:
            print(f"  {error['code']}: {error['uri']}: {error['message']}")
    return 0 if all(j["status"] == "succeeded" for j in jobs) else 1


def cmd_ingest(args: argparse.Namespace) -> int:
    client = _client(args)
    job_ids = submit(client, args.collection, args.source, args.request_size, args.upload)
    if args.detach:
        print("\n".join(job_ids))
        return 0
    return watch(client, job_ids)


def cmd_collections(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.action == "list":
        for c in client.call("GET", "/v1/collections")["data"]:
            print(f"{c['name']:<32} {c['count']:>10} items  {c['model']}")
        return 0
    if not args.name:
        raise SystemExit(f"mmsearch collections {args.action}: a collection name is required")
    if args.action == "create":
        body = {"name": args.name, **({"model": args.model} if args.model else {})}
        _print_json(client.call("POST", "/v1/collections", json=body))
    elif args.action == "show":
        _print_json(client.call("GET", f"/v1/collections/{args.name}"))
    else:
        _print_json(client.call("DELETE", f"/v1/collections/{args.name}"))
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.action == "watch":
        return watch(client, [args.job_id])
    if args.action == "show":
        _print_json(client.job(args.job_id, errors_limit=1000))
    elif args.action == "cancel":
        _print_json(client.call("DELETE", f"/v1/jobs/{args.job_id}"))
    else:
        accepted = client.call("POST", f"/v1/jobs/{args.job_id}/retry", json={})
        print(f"job {args.job_id}: {accepted['requeued']} failed items sent again")
        return watch(client, [args.job_id])
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"text": args.text, "limit": args.limit}
    if args.filter:
        try:
            body["filter"] = json.loads(args.filter)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"--filter is not JSON: {exc.msg}") from exc
    found = _client(args).search(args.collection, body)
    if args.json:
        _print_json(found)
        return 0
    print(f"{'#':>3}  {'score':>7}  {'id':<28} {'uri':<44} metadata")
    for rank, hit in enumerate(found["results"], 1):
        metadata = json.dumps(hit["metadata"], ensure_ascii=False)
        where = f"{hit['id'][:28]:<28} {hit['uri'][:44]:<44}"
        print(f"{rank:>3}  {hit['score']:>7.4f}  {where} {metadata[:60]}")
    print(f"{len(found['results'])} results in {found['took_ms']:.1f} ms")
    return 0


def run(func: Any, args: argparse.Namespace) -> int:
    """Run a client command; API errors and an unreachable API end in one clear line."""
    try:
        return int(func(args))
    except ApiError as exc:
        detail = f" {json.dumps(exc.details)}" if exc.details else ""
        print(f"mmsearch: {exc.status} {exc.code}: {exc.message}{detail}", file=sys.stderr)
    except ConnectionError as exc:
        print(f"mmsearch: {exc}", file=sys.stderr)
    return 2


def register(sub: Any) -> None:
    """Add the client commands to the `mmsearch` parser."""

    def command(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        parser.add_argument("--api-url", default=None, help="API URL (MMSEARCH_API_URL)")
        parser.set_defaults(func=lambda args: run(func, args))
        return parser

    collections = command("collections", cmd_collections, "create, list, show or delete")
    collections.add_argument("action", choices=["create", "list", "show", "delete"])
    collections.add_argument("name", nargs="?")
    collections.add_argument("--model", default=None, help="for create (server default if unset)")
    ingest = command("ingest", cmd_ingest, "index a folder, an s3:// prefix or a manifest")
    ingest.add_argument("source", help="folder, image, s3://bucket/prefix/, or .csv/.jsonl")
    ingest.add_argument("--collection", required=True)
    ingest.add_argument("--detach", action="store_true", help="print job ids, do not wait")
    ingest.add_argument(
        "--upload",
        default=None,
        metavar="S3_PREFIX",
        help="upload a folder's images under this s3:// prefix first (MMSEARCH_S3_* settings)",
    )
    ingest.add_argument("--request-size", type=int, default=5000, help="items per request")
    jobs = command("jobs", cmd_jobs, "watch, show, cancel or retry a job")
    jobs.add_argument("action", choices=["watch", "show", "cancel", "retry"])
    jobs.add_argument("job_id")
    search = command("search", cmd_search, "search a collection by text")
    search.add_argument("text")
    search.add_argument("--collection", required=True)
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--filter", default=None, help="Qdrant-style filter JSON")
    search.add_argument("--json", action="store_true", help="print the raw JSON answer")
