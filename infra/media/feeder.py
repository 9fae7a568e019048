"""The ingest feeder: fetch, decode and resize in processes of their own, one per core.

Threads under one GIL cannot decode faster than about one core, and a GPU host needs many
cores' worth of decoding to keep its model busy. The feeder runs a pool of processes (started
from a fork server, so they carry no torch and no threads of the worker's), each with
`fetch_concurrency / processes` threads that fetch its chunk of items at once. A process hands
back uint8 pixels already resized and cropped for the model (`ImagePrep.geometry`), a quarter
of the bytes of normalised floats; the model's process normalises them on its device.

A process that dies (a decoder crash, the kernel's out-of-memory killer, a kill) breaks the
pool: the pool is made again and the chunks it held go to the new processes. A chunk that
breaks its pool a second time is loaded item by item, each in a process of its own, so the
item that kills its process is recorded as `corrupt_image` and the others are loaded as usual.
Each item is handed to the batch exactly once, whatever was fetched again.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from mmsearch.encoders.image_prep import ImagePrep
from mmsearch.infra.children import exit_with_parent, name_this_process
from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.logs import setup_logging
from mmsearch.infra.media.images import decode_image
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.uris import MediaRef
from mmsearch.infra.settings import Settings
from mmsearch.infra.threads import lower_this_process

log = logging.getLogger(__name__)

Prepare = Callable[[Image.Image], Any]  # a decoded image → the model's input

CRASHED = "its decoding process died on it (a decoder crash, or out of memory)"


class FeederStopped(RuntimeError):
    """The feeder is closed, or its processes cannot run: load on threads instead."""


@dataclass(frozen=True)
class Loaded:
    """One item's model input (what `prepare` made of its image), or the stable code and
    message of why it has none."""

    value: Any = None
    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class DecodeLimits:
    max_pixels: int
    min_side: int


def load_one(objects: ObjectStore, ref: MediaRef, prepare: Prepare, limits: DecodeLimits) -> Loaded:
    """Fetch, decode and prepare one item; never raises."""
    try:
        data = objects.fetch(ref)
        image = decode_image(data, max_pixels=limits.max_pixels, min_side=limits.min_side)
        return Loaded(prepare(image))
    except ItemError as exc:
        return Loaded(None, exc.code, exc.message)
    except Exception as exc:  # one bad item must not sink the batch
        log.exception("unexpected error loading %s", ref.uri)
        return Loaded(None, ItemErrorCode.FETCH_FAILED, type(exc).__name__)


# One feeder process's state, set by `_start_process`.
_OBJECTS: ObjectStore | None = None
_THREADS: ThreadPoolExecutor | None = None

LoadOne = Callable[[ObjectStore, MediaRef, "Prepare", DecodeLimits], Loaded]


def _start_process(settings: Settings, threads: int, worker: int) -> None:
    """A feeder process's first step: its own S3 client and fetch threads. It leaves with the
    worker process `worker` (its parent is the fork server, which stays up while any of its
    children does, so the worker's death has to be watched for here)."""
    global _OBJECTS, _THREADS
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the worker, which stops us
    exit_with_parent(os.getppid())
    threading.Thread(target=_exit_with, args=(worker,), name="worker-watch", daemon=True).start()
    name_this_process("mmsearch-feed")
    with contextlib.suppress(OSError):  # the kernel's OOM killer takes a feeder before the model
        Path("/proc/self/oom_score_adj").write_text("1000")
    lower_this_process(settings.ingest_nice)
    setup_logging(settings.log_level, settings.log_format, process="feeder")
    _OBJECTS = ObjectStore(settings)
    _THREADS = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="feed")


def _exit_with(pid: int) -> None:
    """Leave within half a second of process `pid`'s end."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:  # alive
            pass
        time.sleep(0.5)


def _load_chunk(
    refs: Sequence[MediaRef], prep: ImagePrep, limits: DecodeLimits, load: LoadOne
) -> list[Loaded]:
    """Load a chunk of items on this process's threads (in a feeder process), resized and
    cropped for the model."""
    assert _OBJECTS is not None and _THREADS is not None, "not a feeder process"
    objects = _OBJECTS
    return list(_THREADS.map(lambda ref: load(objects, ref, prep.geometry, limits), refs))


def default_processes() -> int:
    """One feeder process per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class Feeder:
    """A pool of feeder processes shared by every batch of the worker process.

    `load` is what a process does with one item (module-level, so it can be sent to one).
    """

    def __init__(
        self, settings: Settings, processes: int | None = None, load: LoadOne = load_one
    ) -> None:
        self.settings = settings
        self.processes = processes or default_processes()
        self.chunk = max(1, math.ceil(settings.fetch_concurrency / self.processes))
        self.limits = DecodeLimits(settings.max_image_pixels, settings.decode_min_side)
        self._load = load
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0
        self._closed = False

    def stream(self, refs: Sequence[MediaRef], prep: ImagePrep) -> Iterator[Loaded]:
        """Each ref's Loaded, in order, as soon as it and those before it are loaded; the whole
        list is handed to the processes at once, so they work ahead of the caller. Raises
        FeederStopped when the feeder is closed or its processes cannot run."""
        chunks = [refs[start : start + self.chunk] for start in range(0, len(refs), self.chunk)]
        futures: list[tuple[int, Future[list[Loaded]]]] = []
        retried: set[int] = set()
        try:
            futures += [self._submit(chunk, prep) for chunk in chunks]
            for index, chunk in enumerate(chunks):
                while True:
                    generation, future = futures[index]
                    try:
                        loaded = future.result()
                        break
                    except BrokenProcessPool:
                        if index in retried:  # broke twice: find the item that does it
                            loaded = self._isolated(chunk, prep)
                            break
                        self._replace(generation)
                        log.warning("a feeder process died: its work goes to new processes")
                        for later in range(index, len(chunks)):
                            was, old = futures[later]
                            if later not in retried and was == generation and _broke(old):
                                futures[later] = self._submit(chunks[later], prep)
                                retried.add(later)
                yield from loaded
        except (CancelledError, RuntimeError, OSError) as exc:  # closed, or cannot start
            raise FeederStopped(str(exc) or type(exc).__name__) from exc
        finally:  # a caller that stops early leaves no work queued
            for _, future in futures:
                future.cancel()

    def close(self) -> None:
        """Stop the processes now (the worker is stopping: what they hold is not waited for)."""
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)  # forgets its processes
            for process in processes:
                process.terminate()

    def _submit(
        self, chunk: Sequence[MediaRef], prep: ImagePrep
    ) -> tuple[int, Future[list[Loaded]]]:
        for _ in range(2):
            generation, pool = self._current()
            try:
                return generation, pool.submit(_load_chunk, chunk, prep, self.limits, self._load)
            except BrokenProcessPool:
                self._replace(generation)
        raise BrokenProcessPool("the feeder's processes could not be started")

    def _current(self) -> tuple[int, ProcessPoolExecutor]:
        with self._lock:
            if self._closed:
                raise FeederStopped("the feeder is closed")
            if self._pool is None:
                self._pool = self._new_pool(self.processes)
            return self._generation, self._pool

    def _replace(self, generation: int) -> None:
        """Drop the pool of `generation` if it is still the current one (the first of the
        batches that saw it break does it)."""
        with self._lock:
            if self._generation != generation or self._pool is None:
                return
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool, self._generation = None, generation + 1

    def _isolated(self, chunk: Sequence[MediaRef], prep: ImagePrep) -> list[Loaded]:
        """Load each item of a chunk in a process of its own, all at once: an item whose
        process dies killed it (its chunk broke twice before)."""
        if self._closed:
            raise FeederStopped("the feeder is closed")
        pools = [self._new_pool(1) for _ in chunk]
        try:
            futures = [
                pool.submit(_load_chunk, [ref], prep, self.limits, self._load)
                for pool, ref in zip(pools, chunk, strict=True)
            ]
            loaded = []
            for ref, future in zip(chunk, futures, strict=True):
                try:
                    loaded.append(future.result()[0])
                except BrokenProcessPool:
                    log.warning("%s killed its feeder process", ref.uri)
                    loaded.append(Loaded(None, ItemErrorCode.CORRUPT_IMAGE, CRASHED))
            return loaded
        finally:
            for pool in pools:
                pool.shutdown(wait=False)

    def _new_pool(self, processes: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=processes,
            mp_context=_context(),
            initializer=_start_process,
            initargs=(self.settings, self.chunk, os.getpid()),
        )


def _broke(future: Future[list[Loaded]]) -> bool:
    """Whether a chunk's future failed with its pool (or will: a broken pool fails every
    pending future before anyone sees the break)."""
    if not future.done():
        return True
    return not future.cancelled() and isinstance(future.exception(), BrokenProcessPool)


def _context() -> multiprocessing.context.BaseContext:
    """A fork server where there is one: its processes start small and fast, without the
    worker's model, threads and locks."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context
