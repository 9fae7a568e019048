"""The CLI's client commands: collections and ingest here; jobs and search in their modules.

They talk to the HTTP API (`--api-url` or MMSEARCH_API_URL, key in MMSEARCH_API_KEY), so they
work the same against compose and the embedded default.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from mmsearch.api.cli.http_client import (
    ApiClient,
    ApiError,
    CommandError,
    UsageError,
    client_for,
    print_json,
)
from mmsearch.api.cli.jobs_commands import add_jobs_arguments, cmd_jobs, watch
from mmsearch.api.cli.progress import progress_bar
from mmsearch.api.cli.search_commands import add_search_arguments, cmd_search
from mmsearch.api.cli.sources_commands import add_sources_arguments, cmd_sources
from mmsearch.infra.errors import ItemError
from mmsearch.infra.media.storage import is_media_name
from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.settings import get_settings

ITEM_FIELDS = {"uri", "id", "text", "metadata"}


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
                    raise CommandError(f"{path}:{number}: not JSON ({exc.msg})") from exc


def _item(raw: dict[str, Any]) -> dict[str, Any]:
    if not raw.get("uri"):
        raise CommandError(f"manifest row without a uri: {raw}")
    item = {k: raw[k] for k in ("uri", "id", "text") if raw.get(k) is not None}
    metadata = dict(raw.get("metadata") or {})
    metadata.update({k: v for k, v in raw.items() if k not in ITEM_FIELDS})
    if metadata:
        item["metadata"] = metadata
    return item


def image_paths(folder: Path) -> list[Path]:
    """The images under a local folder, relative to it, in name order."""
    found = (p for p in sorted(folder.rglob("*")) if p.is_file() and is_media_name(p.name))
    return [p.relative_to(folder) for p in found]


def local_item(path: Path) -> dict[str, Any]:
    """The file:// item of a local image, with no id: the server knows it by its uri, the path
    as given made absolute (links not resolved), as its own listing of the folder spells it."""
    return {"uri": file_uri(Path(os.path.abspath(path)))}


def folder_items(folder: Path) -> Iterator[dict[str, Any]]:
    """file:// items for the images under a local folder."""
    for relative in image_paths(folder):
        yield local_item(folder / relative)


S3_SETTINGS = "MMSEARCH_S3_ENDPOINT_URL, MMSEARCH_S3_ACCESS_KEY, MMSEARCH_S3_SECRET_KEY"


def upload_folder(folder: Path, target: str) -> Iterator[dict[str, Any]]:
    """Upload a folder's images under an s3:// prefix (MMSEARCH_S3_* settings); their items,
    known by their s3:// uris as the server's listing of that prefix would name them."""
    from mmsearch.infra.media.storage import ObjectStore

    objects = ObjectStore(get_settings())
    try:
        prefix = objects.parse(target if target.endswith("/") else target + "/", prefix=True)
    except ItemError as exc:
        raise CommandError(f"--upload {target}: {exc.message}") from exc
    if prefix.scheme != "s3":
        raise CommandError(f"--upload {target}: not an s3://bucket/prefix")
    for relative in progress_bar(iterable=image_paths(folder), unit="img", desc="upload"):
        key = f"{prefix.path}{relative.as_posix()}"
        try:
            objects.s3.upload_file(str(folder / relative), prefix.bucket, key)
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            raise CommandError(
                f"upload to s3://{prefix.bucket}/{prefix.path} failed: {upload_failure(exc)} "
                f"(check {S3_SETTINGS})"
            ) from exc
        yield {"uri": f"s3://{prefix.bucket}/{key}"}


def upload_failure(exc: Exception) -> str:
    """What went wrong with an upload, in words that carry no secret."""
    if isinstance(exc, NoCredentialsError):
        return "no S3 credentials were found"
    if isinstance(exc, EndpointConnectionError):
        endpoint = get_settings().s3_endpoint_url or "of AWS"
        return f"cannot connect to the S3 endpoint {endpoint}"
    cause = exc.__context__ if isinstance(exc, S3UploadFailedError) else exc
    if isinstance(cause, ClientError):
        error = cause.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return type(exc).__name__


def submit(
    client: ApiClient, collection: str, source: str, batch: int, upload: str | None = None
) -> list[str]:
    """Send one ingest request per `batch` items (or one prefix request); the job ids."""
    if source.startswith("s3://"):
        job_id = client.ingest(collection, {"prefix": source})["job_id"]
        print(f"{source}: listed by a worker in job {job_id}", file=sys.stderr)
        return [job_id]
    path = Path(source)
    if upload is not None and not path.is_dir():
        raise UsageError("--upload takes a folder")
    if upload is not None:
        items = list(upload_folder(path, upload))
    elif path.is_dir():
        items = list(folder_items(path))
    elif path.is_file() and path.suffix.lower() in {".csv", ".jsonl", ".ndjson"}:
        items = list(manifest_items(path))
    elif path.is_file():
        items = [local_item(path)]
    else:
        raise CommandError(f"{source}: not an s3:// prefix, a folder, an image or a manifest")
    if not items:
        raise CommandError(f"{source}: no images found")
    chunks = [items[i : i + batch] for i in range(0, len(items), batch)]
    job_ids = [client.ingest(collection, {"items": chunk})["job_id"] for chunk in chunks]
    jobs = "1 job" if len(job_ids) == 1 else f"{len(job_ids)} jobs"
    print(f"{len(items)} items sent in {jobs}", file=sys.stderr)
    return job_ids


def cmd_ingest(args: argparse.Namespace) -> int:
    client = client_for(args)
    job_ids = submit(client, args.collection, args.source, args.request_size, args.upload)
    if args.detach:
        print("\n".join(job_ids))
        return 0
    return watch(client, job_ids)


def cmd_collections(args: argparse.Namespace) -> int:
    client = client_for(args)
    if args.action == "list":
        for c in client.call("GET", "/v1/collections")["data"]:
            print(f"{c['name']:<32} {c['count']:>10} items  {c['model']}")
        return 0
    if not args.name:
        raise UsageError(f"collections {args.action}: a collection name is required")
    if args.action == "create":
        body = {"name": args.name, **({"model": args.model} if args.model else {})}
        if args.payload_schema:
            body["payload_schema"] = payload_schema(args.payload_schema)
        if args.no_keyword:
            body["keyword"] = None
        print_json(client.call("POST", "/v1/collections", json=body))
    elif args.action == "keyword":
        accepted = client.call("POST", f"/v1/collections/{args.name}/keyword", json={})
        return watch(client, [accepted["job_id"]])
    elif args.action == "show":
        print_json(client.call("GET", f"/v1/collections/{args.name}"))
    else:
        if not (args.yes or confirm(f"delete collection {args.name!r} and all its items?")):
            print("not deleted", file=sys.stderr)
            return 1
        print_json(client.call("DELETE", f"/v1/collections/{args.name}"))
    return 0


def payload_schema(value: str) -> Any:
    """`--payload-schema`: JSON, or `@file.json`."""
    source = value
    if value.startswith("@"):
        try:
            source = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--payload-schema {value}: {exc.strerror}") from exc
    try:
        return json.loads(source)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--payload-schema is not JSON: {exc.msg}") from exc


def confirm(question: str) -> bool:
    """Ask on a terminal; with no terminal to ask on, refuse as a usage error."""
    if not sys.stdin.isatty():
        raise UsageError("stdin is not a terminal, so there is no one to confirm: pass --yes")
    return input(f"{question} [y/N] ").strip().lower() in {"y", "yes"}


def run(func: Any, parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run a client command; API errors and an unreachable API end in one clear line, a usage
    error in argparse's message and exit code 2."""
    try:
        return int(func(args))
    except UsageError as exc:
        parser.error(str(exc))
    except ApiError as exc:
        detail = f" {json.dumps(exc.details)}" if exc.details else ""
        print(f"mmsearch: {exc.status} {exc.code}: {exc.message}{detail}", file=sys.stderr)
    except (ConnectionError, CommandError) as exc:
        print(f"mmsearch: {exc}", file=sys.stderr)
    return 2


def register(sub: Any) -> None:
    """Add the client commands to the `mmsearch` parser."""

    def command(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
        parser.add_argument("--api-url", default=None, help="API URL (MMSEARCH_API_URL)")
        parser.set_defaults(func=lambda args: run(func, parser, args))
        return parser

    collections = command(
        "collections", cmd_collections, "create, list, show or delete; keyword: add its BM25 index"
    )
    collections.add_argument("action", choices=["create", "list", "show", "delete", "keyword"])
    collections.add_argument("name", nargs="?")
    collections.add_argument("--model", default=None, help="for create (server default if unset)")
    collections.add_argument(
        "--payload-schema",
        default=None,
        metavar="JSON",
        help='for create: indexed metadata fields, e.g. \'{"year": "integer"}\', or @file.json',
    )
    collections.add_argument(
        "--no-keyword", action="store_true", help="for create: no keyword (BM25) index"
    )
    collections.add_argument("--yes", action="store_true", help="for delete: do not ask")
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
    add_jobs_arguments(command("jobs", cmd_jobs, "list, watch, show, cancel or retry jobs"))
    add_search_arguments(command("search", cmd_search, "search a collection by text or image"))
    add_sources_arguments(
        command("sources", cmd_sources, "keep a collection in sync with buckets and folders")
    )
