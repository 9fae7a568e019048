"""`mmsearch migrate --to URL`: copy a stopped standalone's collections into a Qdrant server.

The data folder's embedded engine is the source and the server store the target, so the server
gets the collections the platform itself would make (see infra.vectors.transfer), spread over
a cluster as --shards, --replicas and --write-consistency say; the vectors are copied, not
computed again. Run it again after an interruption (with the same options): it finishes the copy.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmsearch.api.cli.backup import BackupRefused, stopped
from mmsearch.api.cli.progress import progress_bar
from mmsearch.infra.errors import AppError
from mmsearch.infra.settings import get_settings

if TYPE_CHECKING:  # the other commands of the CLI load no engine
    from mmsearch.infra.vectors import QdrantServerStore
    from mmsearch.infra.vectors.types import ClusterConfig

LOCAL_PREFIX = "path:"  # a folder qdrant-client opens in local mode, one request at a time
REQUEST_TIMEOUT_S = 120  # a 5 MB batch into a busy server takes longer than the client's 5 s


def _target(to: str, api_key: str | None) -> QdrantServerStore:
    from qdrant_client import QdrantClient

    from mmsearch.infra.vectors import QdrantServerStore

    if to.startswith(LOCAL_PREFIX):
        return QdrantServerStore(QdrantClient(path=to.removeprefix(LOCAL_PREFIX)))
    return QdrantServerStore(QdrantClient(url=to, api_key=api_key, timeout=REQUEST_TIMEOUT_S))


def migrate(
    data_dir: Path,
    to: str,
    api_key: str | None = None,
    names: list[str] | None = None,
    cluster: ClusterConfig | None = None,
) -> int:
    """Copy the chosen collections of `data_dir` into the server at `to`, spread over a cluster
    as `cluster` says (None: as a single node keeps them); the points copied.

    Raises BackupRefused while a standalone runs on the folder, AppError when the copy fails.
    """
    from mmsearch.infra.vectors import EdgeVectorStore
    from mmsearch.infra.vectors.transfer import STREAMS, chosen_specs, copy_aliases, copy_collection

    engine = data_dir / "qdrant"
    if not engine.is_dir():
        raise BackupRefused(f"no embedded engine at {engine} (MMSEARCH_DATA_DIR)")
    with stopped(data_dir):  # refuses while a standalone holds the folder
        pass
    try:
        source = EdgeVectorStore(engine)
    except AppError as exc:  # a standalone started meanwhile
        raise BackupRefused(f"{exc.message}: stop mmsearch standalone first") from None
    target = _target(to, api_key)
    streams = 1 if to.startswith(LOCAL_PREFIX) else STREAMS
    total = 0
    try:
        specs = chosen_specs(source, names)
        if cluster is not None:
            specs = [replace(spec, cluster=cluster) for spec in specs]
        for spec in specs:
            points = source.count(spec.name)
            with progress_bar(total=points, desc=spec.name, unit="pt") as bar:
                total += copy_collection(source, target, spec, streams, bar.update).count
        copy_aliases(source, target, {spec.name for spec in specs})
    finally:
        source.close()
        target.close()
    return total


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = get_settings()
    data_dir = args.data_dir or settings.data_dir
    names = [n.strip() for n in args.collections.split(",") if n.strip()] or None
    from mmsearch.infra.vectors.types import ClusterConfig

    cluster = ClusterConfig(args.shards, args.replicas, args.write_consistency)
    try:
        total = migrate(data_dir, args.to, args.api_key, names, cluster)
    except BackupRefused as exc:
        print(f"mmsearch migrate: {exc}", file=sys.stderr)
        return 2
    except AppError as exc:
        print(f"mmsearch migrate: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    print(f"copied {total} points from {data_dir} into {args.to}; counts checked.")
    print("Switch the platform over to the server:")
    print(f"  MMSEARCH_QDRANT_URL={args.to}")
    if args.api_key:
        print("  MMSEARCH_QDRANT_API_KEY=<the key given with --api-key>")
    print(
        "then run `mmsearch api` and `mmsearch worker` (with MMSEARCH_REDIS_URL), or "
        "`docker compose up -d`, whose api and workers use the server."
    )
    return 0


def register(sub: Any) -> None:
    """Add the `migrate` command."""
    parser = sub.add_parser(
        "migrate", help="copy a stopped standalone's collections into a Qdrant server"
    )
    parser.add_argument(
        "--to", required=True, help=f"the server's URL (or {LOCAL_PREFIX}FOLDER: a local copy)"
    )
    parser.add_argument("--api-key", default=None, help="the server's API key")
    parser.add_argument(
        "--collections", default="", help="names to copy, comma-separated (default: all)"
    )
    parser.add_argument("--shards", type=int, default=None, help="shards per collection")
    parser.add_argument("--replicas", type=int, default=None, help="copies of each shard")
    parser.add_argument(
        "--write-consistency", type=int, default=None, help="replicas that acknowledge a write"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="MMSEARCH_DATA_DIR")
    parser.set_defaults(func=cmd_migrate)
