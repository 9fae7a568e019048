"""Logging: plain text or one JSON object per line, carrying the job, collection and batch an
event belongs to (set once per task with `log_context`, added to every record inside it)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("job", "collection", "batch")
_CONTEXT: ContextVar[dict[str, str] | None] = ContextVar("log_context", default=None)


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Tag every log record emitted inside the block (in this thread or task) with `fields`."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_CONTEXT.get() or {}).items():
            setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str | None = None) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.process:
            entry["process"] = self.process
        for key in CONTEXT_FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# Libraries that narrate routine work at INFO (connections, downloads, requests): their warnings
# still show, and at DEBUG everything does.
QUIET_LOGGERS = (
    "urllib3",
    "botocore",
    "boto3",
    "s3transfer",
    "huggingface_hub",
    "filelock",
    "httpx",
    "PIL",
    "werkzeug",  # the development server's access log (the platform serves with waitress)
    "celery.app.trace",  # a line per task run: the jobs record each item's outcome
    "celery.worker.strategy",  # a line per task received
)
# Libraries whose warnings narrate retries: the platform reports the outcome (a model that cannot
# be downloaded says why, once).
RETRY_LOGGERS = ("huggingface_hub.utils._http",)
# Libraries that log on the root logger, and the level from which their records show: open_clip
# narrates each model it builds and warns of random weights, which the platform reports itself.
ROOT_LOGGING_LIBRARIES = {"open_clip": logging.ERROR}


class LibraryRootFilter(logging.Filter):
    """Name a library's root-logger records after the library, and drop them below its level."""

    def __init__(self, levels: dict[str, int]) -> None:
        super().__init__()
        self._folders = {f"{os.sep}{name}{os.sep}": name for name in levels}
        self._levels = levels

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "root":
            return True
        for folder, name in self._folders.items():
            if folder in record.pathname:
                record.name = name
                return record.levelno >= self._levels[name]
        return True


def setup_logging(level: str, fmt: str = "text", process: str | None = None) -> None:
    """Configure the root logger once: `text` (human) or `json` (one object per line). Below
    DEBUG, third-party libraries show their warnings and errors only. `process` names a process
    that shares its output with another one (standalone's worker): `[worker] ` before each
    message, or a "process" field."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    debug = logging.getLevelName(level.upper()) == logging.DEBUG
    if not debug:
        handler.addFilter(LibraryRootFilter(ROOT_LOGGING_LIBRARIES))
    if fmt == "json":
        handler.setFormatter(JsonFormatter(process))
    else:
        tag = f"[{process}] " if process else ""
        line = f"%(asctime)s %(levelname)s %(name)s: {tag}%(message)s"
        handler.setFormatter(logging.Formatter(line))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.captureWarnings(True)  # Python warnings as log lines, in the chosen format
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.WARNING)
    for name in RETRY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if debug else logging.ERROR)
