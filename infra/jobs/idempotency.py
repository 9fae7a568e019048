"""Idempotency keys: a retried ingest request with the same key finds the job the first made."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import redis

from mmsearch.infra.errors import IdempotencyKeyReused

_PREFIX = "mmsearch:idempotency:"


def body_digest(body: dict[str, Any]) -> str:
    """A digest of a request body that ignores key order and spacing."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(
    client: redis.Redis,
    scope: tuple[str, str, str],
    digest: str,
    job_id: str,
    ttl_s: int,
) -> str | None:
    """Bind the key in `scope` (tenant, collection, key) to `job_id` unless it is bound already;
    the job id it was bound to before (None: `job_id` now holds it). A key bound to another body
    is IdempotencyKeyReused."""
    name = _key(scope)
    value = f"{digest}:{job_id}"
    if client.set(name, value, nx=True, ex=ttl_s):
        return None
    held = client.get(name)
    if held is None:  # expired in between: take it now
        client.set(name, value, ex=ttl_s)
        return None
    held_digest, _, held_job = (held.decode() if isinstance(held, bytes) else held).partition(":")
    if held_digest != digest:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for a different request body",
            details={"job_id": held_job},
        )
    return held_job


def release(client: redis.Redis, scope: tuple[str, str, str]) -> None:
    """Free a key whose job was never created."""
    client.delete(_key(scope))


def _key(scope: tuple[str, str, str]) -> str:
    return _PREFIX + hashlib.sha256("\0".join(scope).encode()).hexdigest()
