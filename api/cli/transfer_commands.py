"""`mmsearch export` and `mmsearch import`: move a collection between platforms with its vectors,
through the points endpoints, so that nothing is embedded again.

An export folder holds `manifest.json` (the collection as the API shows it, its versions, the
counts, and each chunk's files with their sha256) and chunks of points: `chunk-NNNNN.jsonl`
(one item a line: id, uri, metadata, text, tenant, a synced item's source and the names of its
vectors) with one float32 matrix per vector name, `chunk-NNNNN.<name>.npy`, whose rows are that
chunk's items having that vector, in order. Both commands resume: a chunk is listed in a
progress file only once its files are complete, and the next run starts after the last chunk
listed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mmsearch.api.cli.client_commands import run
from mmsearch.api.cli.http_client import ApiClient, ApiError, UsageError, client_for
from mmsearch.api.cli.progress import progress_bar

FORMAT, FORMAT_VERSION = "mmsearch-export", 1
MANIFEST, EXPORT_PROGRESS = "manifest.json", "export-progress.json"
VECTOR_NAMES = ("image", "text")


def write_json(path: Path, value: Any) -> None:
    """Write JSON all at once: a reader (or a resumed run) sees the old file or the new one."""
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(temporary, path)


def read_json(path: Path) -> Any:
    """A JSON file, or None when there is none."""
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def sha256(path: Path) -> str:
    """The file's sha256, hex."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def points_path(name: str) -> str:
    """The points endpoint of a collection."""
    return f"/v1/collections/{name}/points"


# -- export ---------------------------------------------------------------------------------


def read_chunk(
    client: ApiClient, name: str, cursor: str | None, size: int, page: int, bar: tqdm[Any]
) -> tuple[list[dict[str, Any]], dict[str, list[np.ndarray]], str | None]:
    """Up to `size` points after `cursor`, page by page: their items, their vectors as float32
    rows by name (kept compact, so a chunk costs its matrices' size), and the next cursor."""
    items: list[dict[str, Any]] = []
    rows: dict[str, list[np.ndarray]] = {name: [] for name in VECTOR_NAMES}
    while len(items) < size:
        params = {"after": cursor, "limit": min(page, size - len(items)), "vectors": "true"}
        answer = client.call("GET", points_path(name), params=params)
        for point in answer["data"]:
            vectors = point.pop("vectors")
            for vector_name in VECTOR_NAMES:
                if vector_name in vectors:
                    rows[vector_name].append(np.asarray(vectors[vector_name], dtype=np.float32))
            items.append({**point, "vectors": sorted(vectors)})
        bar.update(len(answer["data"]))
        cursor = answer["next"]
        if cursor is None:
            break
    return items, rows, cursor


def write_chunk(
    folder: Path, number: int, items: list[dict[str, Any]], rows: dict[str, list[np.ndarray]]
) -> dict[str, Any]:
    """Write one chunk's files (each complete before it takes its name); its manifest entry."""
    stem = f"chunk-{number:05d}"
    files: dict[str, str] = {}
    payloads = folder / f"{stem}.jsonl"
    lines = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    temporary = folder / f"{stem}.jsonl.partial"
    temporary.write_text(lines, encoding="utf-8")
    os.replace(temporary, payloads)
    files[payloads.name] = sha256(payloads)
    counts = {}
    for name, vectors in rows.items():
        if vectors:
            matrix = folder / f"{stem}.{name}.npy"
            temporary = folder / f"{stem}.{name}.npy.partial"
            with open(temporary, "wb") as handle:
                np.save(handle, np.stack(vectors))
            os.replace(temporary, matrix)
            files[matrix.name] = sha256(matrix)
            counts[name] = len(vectors)
    return {"number": number, "count": len(items), "vectors": counts, "files": files}


def export_progress(folder: Path, name: str, chunk_size: int) -> dict[str, Any]:
    """The progress of an earlier, interrupted export of `name` into `folder`, or a new one."""
    if (folder / MANIFEST).exists():
        raise UsageError(f"{folder} holds a finished export; choose another folder")
    progress = read_json(folder / EXPORT_PROGRESS)
    if progress is None:
        return {"collection": name, "chunk_size": chunk_size, "chunks": [], "next": None}
    if progress["collection"] != name:
        raise UsageError(f"{folder} holds a part of an export of {progress['collection']!r}")
    if progress["chunk_size"] != chunk_size:
        raise UsageError(f"{folder} was started with --chunk-size {progress['chunk_size']}")
    return dict(progress)


def cmd_export(args: argparse.Namespace) -> int:
    client, folder, name = client_for(args), Path(args.dir), args.collection
    folder.mkdir(parents=True, exist_ok=True)
    progress = export_progress(folder, name, args.chunk_size)
    collection = client.call("GET", f"/v1/collections/{name}")
    chunks: list[dict[str, Any]] = progress["chunks"]
    done = sum(chunk["count"] for chunk in chunks)
    if chunks:
        print(f"resuming after {len(chunks)} chunks ({done} points)", file=sys.stderr)
    bar = progress_bar(total=collection["count"], initial=done, unit="pt", desc="export")
    finished = bool(chunks) and progress["next"] is None
    while not finished:
        items, rows, cursor = read_chunk(
            client, name, progress["next"], args.chunk_size, args.page_size, bar
        )
        if items:
            chunks.append(write_chunk(folder, len(chunks), items, rows))
        progress["next"], finished = cursor, cursor is None
        write_json(folder / EXPORT_PROGRESS, progress)
    bar.close()
    return finish_export(client, folder, name, chunks)


def finish_export(client: ApiClient, folder: Path, name: str, chunks: list[dict[str, Any]]) -> int:
    """Write the manifest; 1 when the collection's count now differs from the points written."""
    collection = client.call("GET", f"/v1/collections/{name}")
    versions = client.call("GET", f"/v1/collections/{name}/versions")["data"]
    written = sum(chunk["count"] for chunk in chunks)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "collection": collection,
        "versions": versions,
        "count": written,
        "vectors": {v: sum(c["vectors"].get(v, 0) for c in chunks) for v in VECTOR_NAMES},
        "chunks": chunks,
    }
    write_json(folder / MANIFEST, manifest)
    (folder / EXPORT_PROGRESS).unlink(missing_ok=True)
    print(f"exported {written} points of {name} in {len(chunks)} chunks to {folder}")
    if written != collection["count"]:
        print(
            f"mmsearch: warning: {name} now holds {collection['count']} items, not the {written} "
            "exported: it changed during the export; export again into a new folder for a "
            "consistent copy",
            file=sys.stderr,
        )
        return 1
    return 0


# -- import ---------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a finished export (UsageError for anything else)."""
    manifest = read_json(folder / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UsageError(f"{folder} holds no finished mmsearch export ({MANIFEST})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise UsageError(f"{folder}: export format {manifest.get('format_version')} is unknown")
    return manifest


def chunk_points(folder: Path, chunk: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A chunk's points as the write endpoint takes them, its files checked against the sums."""
    for file_name, digest in chunk["files"].items():
        if sha256(folder / file_name) != digest:
            raise SystemExit(f"mmsearch: {folder / file_name} is damaged (sha256 differs)")
    stem = f"chunk-{chunk['number']:05d}"
    matrices = {name: iter(np.load(folder / f"{stem}.{name}.npy")) for name in chunk["vectors"]}
    with open(folder / f"{stem}.jsonl", encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            names = item.pop("vectors")
            item["vectors"] = {name: next(matrices[name]).tolist() for name in names}
            yield {key: value for key, value in item.items() if value is not None}


def create_target(client: ApiClient, manifest: dict[str, Any], name: str, into: bool) -> None:
    """Create the collection as exported (model, payload schema, index settings); an existing
    one is refused unless `into` and of the same model."""
    source = manifest["collection"]
    body = {key: source[key] for key in ("model", "payload_schema", "index")}
    try:
        client.call("POST", "/v1/collections", json={"name": name, **body})
    except ApiError as exc:
        if exc.code != "collection_exists" or not into:
            raise
        existing = client.call("GET", f"/v1/collections/{name}")
        if (existing["model"], existing["dim"]) != (source["model"], source["dim"]):
            raise UsageError(
                f"{name} has model {existing['model']}, not {source['model']}"
            ) from exc


def cmd_import(args: argparse.Namespace) -> int:
    client, folder = client_for(args), Path(args.dir)
    manifest = read_manifest(folder)
    name = args.as_name or manifest["collection"]["name"]
    state_path = folder / f"import-progress-{name}.json"
    state = read_json(state_path)
    if state is None:
        create_target(client, manifest, name, args.into_existing)
        state = {"collection": name, "done": []}
        write_json(state_path, state)
    else:
        print(f"resuming after {len(state['done'])} chunks", file=sys.stderr)
    done = set(state["done"])
    bar = progress_bar(total=manifest["count"], unit="pt", desc="import")
    for chunk in manifest["chunks"]:
        if chunk["number"] not in done:
            upload_chunk(client, name, chunk_points(folder, chunk), args.batch)
            state["done"].append(chunk["number"])
            write_json(state_path, state)
        bar.update(chunk["count"])
    bar.close()
    state_path.unlink()
    count = client.call("GET", f"/v1/collections/{name}")["count"]
    print(f"imported {manifest['count']} points into {name}; it holds {count}")
    if count != manifest["count"] and not args.into_existing:
        print(f"mmsearch: {name} holds {count} items, not {manifest['count']}", file=sys.stderr)
        return 1
    return 0


def upload_chunk(client: ApiClient, name: str, points: Iterator[dict[str, Any]], size: int) -> None:
    """Write a chunk's points in requests of `size`."""
    batch: list[dict[str, Any]] = []
    for point in points:
        batch.append(point)
        if len(batch) == size:
            client.call("POST", points_path(name), json={"points": batch})
            batch = []
    if batch:
        client.call("POST", points_path(name), json={"points": batch})


def positive(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return number


def register(sub: Any) -> None:
    """Add `export` and `import` to the `mmsearch` parser."""
    export = sub.add_parser("export", help="write a collection with its vectors to a folder")
    export.add_argument("collection")
    export.add_argument("dir", help="the folder (created; an interrupted export resumes)")
    export.add_argument("--chunk-size", type=positive, default=10_000, help="points per chunk file")
    export.add_argument("--page-size", type=positive, default=500, help="points per request")
    imported = sub.add_parser("import", help="create a collection from an export folder")
    imported.add_argument("dir")
    imported.add_argument("--as", dest="as_name", default=None, help="another collection name")
    imported.add_argument(
        "--into-existing", action="store_true", help="write into an existing collection"
    )
    imported.add_argument("--batch", type=positive, default=500, help="points per request")
    for parser, func in ((export, cmd_export), (imported, cmd_import)):
        parser.add_argument("--api-url", default=None, help="API URL (MMSEARCH_API_URL)")
        parser.set_defaults(func=lambda args, p=parser, f=func: run(f, p, args))
