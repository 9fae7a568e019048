"""The `mmsearch` command: the servers (standalone, api, worker), hash-key and config, and the
API client commands (collections, ingest, jobs, search; see mmsearch.api.cli.client_commands)."""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
from typing import TYPE_CHECKING

from pydantic import ValidationError

from mmsearch.api.cli.backup import register as register_backup
from mmsearch.api.cli.client_commands import register as register_client_commands
from mmsearch.api.cli.eval import register as register_eval
from mmsearch.api.cli.migrate import register as register_migrate
from mmsearch.api.cli.model_export import register as register_export_model
from mmsearch.api.cli.startup import DEFAULT_MODEL_SETTING, EXIT_CANNOT_START, refuse_model
from mmsearch.api.cli.transfer_commands import register as register_transfer
from mmsearch.encoders import ModelUnavailable, UnknownModel
from mmsearch.infra.errors import AppError
from mmsearch.infra.logs import setup_logging
from mmsearch.infra.media.file_root import require_file_root
from mmsearch.infra.settings import Settings, get_settings

if TYPE_CHECKING:
    from mmsearch.infra.runtime import Runtime


def _overrides(settings: Settings, args: argparse.Namespace) -> Settings:
    update = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    return settings.model_copy(update=update) if update else settings


def _require_server_qdrant(settings: Settings, command: str) -> None:
    if not settings.qdrant_url:
        sys.exit(
            f"mmsearch {command}: MMSEARCH_QDRANT_URL is not set. The embedded engine lives in "
            "one process: use `mmsearch standalone`, or point api and workers at a Qdrant server."
        )
    if not settings.redis_url:
        sys.exit(f"mmsearch {command}: MMSEARCH_REDIS_URL is not set")


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def require_keys_off_loopback(settings: Settings, command: str) -> None:
    """Refuse to serve without API keys anywhere but loopback; warn on loopback."""
    if settings.api_keys:
        return
    if settings.host not in LOOPBACK:
        sys.exit(
            f"mmsearch {command}: refusing to listen on {settings.host} without API keys. Set "
            "MMSEARCH_API_KEYS (`mmsearch hash-key --new` makes one) or bind to 127.0.0.1."
        )
    logging.getLogger("mmsearch").warning(
        "no API keys configured: the API is open to anyone on this machine (loopback only)"
    )


def cmd_standalone(args: argparse.Namespace) -> int:
    from mmsearch.api.standalone import run_standalone

    settings = _overrides(get_settings(), args)
    require_file_root(settings, "standalone")
    require_keys_off_loopback(settings, "standalone")
    try:
        return run_standalone(settings, threads=args.threads, worker_concurrency=args.concurrency)
    except (ModelUnavailable, UnknownModel) as exc:  # the default model, loaded before serving
        return refuse_model("standalone", settings.default_model, exc, DEFAULT_MODEL_SETTING)
    except AppError as exc:  # the data folder cannot be opened: in use, a collection unreadable
        print(f"mmsearch standalone: {exc.message}", file=sys.stderr)
        return EXIT_CANNOT_START


def _load_default_model(runtime: Runtime, command: str) -> int | None:
    """Load the default model before serving; the exit status when it cannot be loaded."""
    model = runtime.settings.default_model
    try:
        runtime.encoder(model, log_failure=False)
    except (ModelUnavailable, UnknownModel) as exc:
        return refuse_model(command, model, exc, DEFAULT_MODEL_SETTING)
    return None


def cmd_api(args: argparse.Namespace) -> int:
    from waitress import serve

    from mmsearch.api.app import create_app
    from mmsearch.infra.runtime import Runtime

    settings = _overrides(get_settings(), args)
    _require_server_qdrant(settings, "api")
    require_file_root(settings, "api")
    require_keys_off_loopback(settings, "api")
    runtime = Runtime(settings)
    if (refused := _load_default_model(runtime, "api")) is not None:
        return refused
    app = create_app(runtime=runtime)
    serve(
        app,
        host=settings.host,
        port=settings.port,
        threads=args.threads,
        max_request_body_size=settings.max_request_bytes + 1,  # refused before it is read
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from mmsearch.api.app import create_app
    from mmsearch.infra.runtime import Runtime
    from mmsearch.workers.celery_app import run_worker

    settings = get_settings()
    _require_server_qdrant(settings, "worker")
    require_file_root(settings, "worker")
    # A worker without its default model would take ingest tasks only to fail them: it stops.
    runtime = Runtime(settings)
    if (refused := _load_default_model(runtime, "worker")) is not None:
        return refused
    # The app factory wires the worker's Celery app and runtime as the API's, serving nothing;
    # the runtime is a full one, since the worker embeds images.
    celery = create_app(runtime=runtime).extensions["celery"]
    return run_worker(
        celery, worker_hostname(), settings.log_level, pool=args.pool, concurrency=args.concurrency
    )


def cmd_scheduler(args: argparse.Namespace) -> int:
    """Celery beat: send `sync_due` every MMSEARCH_SYNC_TICK_S, so that a worker starts the
    syncs sources' schedules and bucket events call for (run one per cluster)."""
    import tempfile

    from mmsearch.workers.celery_app import SYNC_DUE, configure_celery

    settings = get_settings()
    if not settings.redis_url:
        sys.exit("mmsearch scheduler: MMSEARCH_REDIS_URL is not set")
    celery = configure_celery(settings)
    # A tick a busy queue held past the next one is dropped, not run late (they pile up behind
    # long ingests otherwise).
    tick = {"expires": settings.sync_tick_s}
    celery.conf.beat_schedule = {
        "sync-due": {"task": SYNC_DUE, "schedule": settings.sync_tick_s, "options": tick}
    }
    state = args.schedule_file or f"{tempfile.gettempdir()}/mmsearch-beat-schedule"
    celery.Beat(loglevel=settings.log_level, schedule=state, quiet=True).run()
    return 0


def worker_hostname() -> str:
    return f"worker@{socket.gethostname()}"


def cmd_ping_worker(args: argparse.Namespace) -> int:
    """Exit 0 when this host's worker answers a broker ping (container healthcheck)."""
    from mmsearch.workers.celery_app import configure_celery

    celery = configure_celery(get_settings())
    replies = celery.control.ping(destination=[worker_hostname()], timeout=args.timeout)
    return 0 if replies else 1


def cmd_config(args: argparse.Namespace) -> int:
    """Print the effective settings; secrets are masked."""
    print(json.dumps(get_settings().model_dump(mode="json"), indent=2, default=str))
    return 0


def cmd_hash_key(args: argparse.Namespace) -> int:
    """Print the MMSEARCH_API_KEYS entry for a key read from stdin, or for a new key."""
    from mmsearch.infra.api_keys import entry_for, new_key

    key = new_key() if args.new else sys.stdin.readline().strip()
    try:
        entry = entry_for(key, args.scope, args.tenant)
    except ValueError as exc:
        sys.exit(f"mmsearch hash-key: {exc}")
    if args.new:
        print(f"key (give it to the client; it is not stored): {key}", file=sys.stderr)
    print(entry)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmsearch", description="Multimodal image search")
    sub = parser.add_subparsers(dest="command", required=True)
    standalone = sub.add_parser("standalone", help="API + worker + embedded Qdrant (+ Redis)")
    api = sub.add_parser("api", help="the HTTP API (needs Redis and a Qdrant server)")
    for p in (standalone, api):
        p.add_argument("--host", default=None, help="bind address (MMSEARCH_HOST)")
        p.add_argument("--port", type=int, default=None, help="port (MMSEARCH_PORT)")
        p.add_argument("--threads", type=int, default=32, help="HTTP worker threads")
    standalone.add_argument("--concurrency", type=int, default=2, help="ingest threads")
    standalone.set_defaults(func=cmd_standalone)
    api.set_defaults(func=cmd_api)
    worker = sub.add_parser("worker", help="a Celery ingest worker (needs a Qdrant server)")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--pool", default="threads", choices=["threads", "solo", "prefork"])
    worker.set_defaults(func=cmd_worker)
    scheduler = sub.add_parser(
        "scheduler", help="Celery beat: starts sources' scheduled syncs (one per cluster)"
    )
    scheduler.add_argument("--schedule-file", default=None, help="beat's state file")
    scheduler.set_defaults(func=cmd_scheduler)
    ping = sub.add_parser("ping-worker", help="exit 0 if this host's worker answers")
    ping.add_argument("--timeout", type=float, default=5.0)
    ping.set_defaults(func=cmd_ping_worker)
    hash_key = sub.add_parser("hash-key", help="print the MMSEARCH_API_KEYS entry for a key")
    hash_key.add_argument("--scope", default="admin", choices=["read", "write", "admin"])
    hash_key.add_argument("--tenant", default=None, help="bind the key to a tenant")
    hash_key.add_argument("--new", action="store_true", help="make a random key (on stderr)")
    hash_key.set_defaults(func=cmd_hash_key)
    register_client_commands(sub)
    register_eval(sub)
    register_export_model(sub)
    register_backup(sub)
    register_migrate(sub)
    register_transfer(sub)
    config = sub.add_parser("config", help="print the effective settings (secrets masked)")
    config.set_defaults(func=cmd_config)
    return parser


def settings_or_exit(command: str = "mmsearch") -> Settings:
    """The settings, or exit 2 with one line per invalid variable (no traceback)."""
    try:
        return get_settings()
    except ValidationError as exc:
        lines = [f"{command}: invalid settings"]
        for error in exc.errors():
            name = f"MMSEARCH_{str(error['loc'][0]).upper()}" if error["loc"] else "settings"
            lines.append(f"  {name}: {error['msg'].removeprefix('Value error, ')}")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(EXIT_CANNOT_START) from None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mmsearch` console script."""
    args = build_parser().parse_args(argv)
    settings = settings_or_exit()
    setup_logging(settings.log_level, settings.log_format)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
