"""`mmsearch search`: by text, by an image (a local file or a reference), or both mixed."""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

from mmsearch.api.cli.http_client import UsageError, client_for, print_json

REFERENCE_SCHEMES = ("s3://", "file://", "http://", "https://")


def image_ref(value: str) -> dict[str, str]:
    """A reference the API reads itself, or a local file sent inline."""
    if value.startswith(REFERENCE_SCHEMES):
        return {"uri": value}
    path = Path(value)
    if not path.is_file():
        raise UsageError(f"--image {value}: not a file, nor an s3://, file:// or http(s):// uri")
    return {"base64": base64.b64encode(path.read_bytes()).decode()}


def query_of(args: argparse.Namespace) -> dict[str, Any]:
    """The search body's query: text, image, or a weighted mix of the two."""
    if args.text is None and args.image is None:
        raise UsageError("give a TEXT, an --image, or both")
    if args.image is None:
        return {"text": args.text}
    if args.text is None:
        return {"image": image_ref(args.image)}
    return {
        "query": [
            {"text": args.text, "weight": 1.0},
            {"image": image_ref(args.image), "weight": args.image_weight},
        ]
    }


def tail(value: str, width: int) -> str:
    """The end of a value (where uris and ids differ), cut to `width` characters."""
    return value if len(value) <= width else "…" + value[-(width - 1) :]


def print_results(found: dict[str, Any]) -> None:
    print(f"{'#':>3}  {'score':>7}  {'id':<24} {'uri':<36} caption / metadata")
    for rank, hit in enumerate(found["results"], 1):
        about = hit.get("text") or ""
        if hit["metadata"]:
            about = f"{about}  {json.dumps(hit['metadata'], ensure_ascii=False)}".strip()
        where = f"{tail(hit['id'], 24):<24} {tail(hit['uri'], 36):<36}"
        print(f"{rank:>3}  {hit['score']:>7.4f}  {where} {about[:80]}")
    print(f"{len(found['results'])} results in {found['took_ms']:.1f} ms")


def cmd_search(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {**query_of(args), "limit": args.limit}
    if args.mode:
        if args.mode == "keyword" and "text" not in body:
            raise UsageError("--mode keyword searches words: give a TEXT, without --image")
        body["mode"] = args.mode
    if args.rerank:
        if "text" not in body:
            raise UsageError("--rerank matches a TEXT against the images: give a TEXT")
        body["rerank"] = {"model": args.rerank, "top_k": args.rerank_top_k}
    if args.filter:
        try:
            body["filter"] = json.loads(args.filter)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--filter is not JSON: {exc.msg} (at character {exc.pos})") from exc
    found = client_for(args).search(args.collection, body)
    if args.json:
        print_json(found)
    else:
        print_results(found)
    return 0


def add_search_arguments(search: argparse.ArgumentParser) -> None:
    """The `mmsearch search` arguments."""
    search.add_argument("text", nargs="?", help="what to look for, in words")
    search.add_argument("--collection", required=True)
    search.add_argument(
        "--image",
        default=None,
        metavar="PATH_OR_URI",
        help="an image to look like: a local file, or an s3://, file:// or http(s):// uri",
    )
    search.add_argument(
        "--image-weight",
        type=float,
        default=1.0,
        help="with both TEXT and --image: the image's weight (the text's is 1)",
    )
    search.add_argument(
        "--mode",
        choices=["image", "text", "hybrid", "keyword"],
        default=None,
        help="rank by image vectors (default), caption vectors, both fused with keywords "
        "(hybrid), or words alone (keyword: BM25 over captions and text fields)",
    )
    search.add_argument(
        "--rerank",
        default=None,
        metavar="MODEL",
        help="re-score the first hits with an image-text matching model (itm:...)",
    )
    search.add_argument(
        "--rerank-top-k", type=int, default=50, help="with --rerank: how many hits it re-scores"
    )
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--filter", default=None, help="Qdrant-style filter JSON")
    search.add_argument("--json", action="store_true", help="print the raw JSON answer")
