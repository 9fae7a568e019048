"""Reaching a weights host before downloading from it: a machine without internet is told so in
a few seconds (the hub client retries for most of a minute before giving up), and the hub
client's log records reach the platform's handlers only."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from urllib.parse import urlsplit

from huggingface_hub import constants, try_to_load_from_cache

from mmsearch.encoders.base import ModelUnavailable, root_cause

PROBE_TIMEOUT_S = 3.0  # name lookup and connect, each


def hub_endpoint() -> str:
    """The hub weights are downloaded from: HF_ENDPOINT, else https://huggingface.co."""
    return constants.ENDPOINT


def use_platform_log_handlers() -> None:
    """Drop the hub client's own stderr handler, which printed each of its records a second time,
    unformatted, beside the platform's line for it."""
    hub = logging.getLogger("huggingface_hub")
    for handler in list(hub.handlers):
        if type(handler) is logging.StreamHandler:
            hub.removeHandler(handler)


def hub_cached(repo_id: str, filenames: Iterable[str], cache_dir: Path | None) -> bool:
    """Whether one of a hub repository's `filenames` is in the local cache already."""
    cache = str(cache_dir) if cache_dir else None
    found = (try_to_load_from_cache(repo_id, name, cache_dir=cache) for name in filenames)
    return any(isinstance(path, str) for path in found)


def require_reachable(url: str) -> None:
    """Raise ModelUnavailable at once when `url`'s host cannot be looked up or connected to;
    nothing with HF_HUB_OFFLINE set (the hub client then says that it is offline)."""
    if constants.HF_HUB_OFFLINE:
        return
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = _lookup(parts.hostname or "", port)
        with socket.create_connection(address, timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ModelUnavailable(f"could not reach {origin} ({root_cause(exc)}): offline?") from exc


def _lookup(host: str, port: int) -> tuple[str, int]:
    """The first address of `host`, within the probe's timeout (a resolver that gets no answer
    can otherwise wait for far longer)."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        found = pool.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            infos = found.result(timeout=PROBE_TIMEOUT_S)
        except FutureTimeout:
            raise OSError(f"no answer for {host} in {PROBE_TIMEOUT_S:.0f} s") from None
    finally:
        pool.shutdown(wait=False)
    sockaddr = infos[0][4]
    return str(sockaddr[0]), int(sockaddr[1])
