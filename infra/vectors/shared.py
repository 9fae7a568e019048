"""The embedded engine, owned by one process and called from the platform's other processes.

qdrant-edge locks its folder to the process that opened it, and every call into it holds that
process's GIL. In standalone mode the engine has a process of its own (api/engine_process.py),
so its calls never stall the API's threads, and the ingest worker another, so its Python work
(fetching, decoding, bookkeeping) never competes with a query for the API's GIL. Both reach the
engine through a `multiprocessing` manager over a private Unix socket, authenticated with a key
only the platform's processes know; each calling thread has a connection of its own.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any, cast

from mmsearch.infra.errors import Unavailable
from mmsearch.infra.vectors.base import VectorStore

# What the owner keeps to itself: only it closes the engine.
PRIVATE = frozenset({"close"})
# A lost connection to the owner; the caller's batch is retried, not failed.
LOST = (EOFError, ConnectionError, BrokenPipeError, FileNotFoundError)


@dataclass(frozen=True)
class EngineAddress:
    """Where the owner serves the engine, and the key a caller proves itself with."""

    socket: str
    authkey: bytes


@contextmanager
def share_vectors(store: VectorStore) -> Iterator[EngineAddress]:
    """Serve `store` to this platform's other processes while the block runs."""
    folder = Path(tempfile.mkdtemp(prefix="mmsearch-engine-"))  # mode 0700: this user only
    address = EngineAddress(str(folder / "engine.sock"), secrets.token_bytes(32))

    class Owner(BaseManager):  # registrations are per class: one class per shared store
        pass

    exposed = tuple(
        name
        for name in dir(store)
        if not name.startswith("_") and name not in PRIVATE and callable(getattr(store, name))
    )
    gate = _Gate(store)
    Owner.register("vectors", callable=lambda: gate, exposed=exposed)
    server = Owner(address=address.socket, authkey=address.authkey).get_server()
    thread = threading.Thread(target=_serve, args=(server,), name="engine-share", daemon=True)
    thread.start()
    try:
        yield address
    finally:
        gate.open = False  # connections made before keep their threads: refuse their calls
        _stop(server, thread)
        shutil.rmtree(folder, ignore_errors=True)


class _Gate:
    """The shared store's methods while sharing lasts; Unavailable after."""

    def __init__(self, store: VectorStore) -> None:
        self.store, self.open = store, True

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if not self.open:
                raise Unavailable("the vector engine is no longer shared")
            return method(*args, **kwargs)

        return call


def _serve(server: Any) -> None:
    try:
        server.serve_forever()
    except SystemExit:  # how serve_forever ends, in this thread only
        pass


def _stop(server: Any, thread: threading.Thread) -> None:
    """Stop accepting calls (the event exists once serve_forever began)."""
    deadline = time.monotonic() + 5
    while getattr(server, "stop_event", None) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if (event := getattr(server, "stop_event", None)) is not None:
        event.set()
        thread.join(timeout=5)
    server.listener.close()  # removes the socket now, not in a finalizer at exit


class _Caller(BaseManager):
    pass


_Caller.register("vectors")


class RemoteVectors:
    """The owner's vector store, called from another process: the same methods, the same
    errors; a lost owner raises Unavailable. close() leaves the engine to its owner."""

    def __init__(self, address: EngineAddress) -> None:
        manager = _Caller(address=address.socket, authkey=address.authkey)
        try:
            manager.connect()
        except LOST as exc:
            raise Unavailable("the vector engine's process cannot be reached") from exc
        self._proxy = manager.vectors()  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._proxy, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except LOST as exc:
                raise Unavailable("the vector engine's process cannot be reached") from exc

        return call

    def close(self) -> None:
        """Nothing to close here: the owner closes the engine."""

    def as_store(self) -> VectorStore:
        """This object typed as the store it stands for."""
        return cast(VectorStore, self)
