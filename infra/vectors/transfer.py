"""Copy collections from one vector store into a Qdrant server, points with their vectors.

The target gets what the platform itself would create (the source's specs, so the same physical
names, versions, payload and tenant indexes, HNSW, quantization and cluster settings, and its
aliases). Points are sent the way Qdrant advises for a bulk load: a few parallel streams of
requests of at most 256 points and under 5 MB, with HNSW building off until the load is done.
A copy run again upserts the same ids, so an interrupted one is finished by running it again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial

from mmsearch.infra.errors import CollectionNotFound, CountMismatch, SpecMismatch
from mmsearch.infra.vectors.base import VectorStore
from mmsearch.infra.vectors.qdrant.store import QdrantServerStore
from mmsearch.infra.vectors.types import CollectionSpec, VectorPoint

logger = logging.getLogger(__name__)

MAX_POINTS = 256  # per request
MAX_BYTES = 5_000_000  # per request body
STREAMS = 3
FLOAT_BYTES = 24  # a float32 written as JSON, at its longest

Progress = Callable[[int], None]  # told how many more points were written


@dataclass(frozen=True)
class Copied:
    """A collection copied, and the points it holds on both sides."""

    name: str
    count: int


def request_batches(points: Sequence[VectorPoint]) -> Iterator[list[VectorPoint]]:
    """`points` in runs of at most MAX_POINTS that stay under MAX_BYTES as a request body."""
    batch: list[VectorPoint] = []
    size = 0
    for point in points:
        floats = sum(len(v) for v in point.vectors.values())
        weight = floats * FLOAT_BYTES + len(json.dumps(point.payload, default=str)) + 128
        if batch and (len(batch) == MAX_POINTS or size + weight > MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(point)
        size += weight
    if batch:
        yield batch


def prepare_target(target: QdrantServerStore, spec: CollectionSpec) -> None:
    """Create `spec` on the target, or find it there already as it is; SpecMismatch otherwise
    (CollectionExists where a collection that is not the platform's holds the name)."""
    try:
        existing = target.spec(spec.name)
    except CollectionNotFound:
        target.create_collection(spec)
        return
    if existing != spec:
        raise SpecMismatch(
            f"the target already holds a collection {spec.name!r} with other settings; "
            "delete it there, or leave it out of the copy",
            details={"collection": spec.name},
        )


def point_batches(source: VectorStore, name: str) -> Iterator[list[VectorPoint]]:
    """Every point of collection `name`, vectors and payload, in request-sized batches."""
    after: str | None = None
    while True:
        page, after = source.scroll(name, limit=MAX_POINTS, after=after, with_vectors=True)
        yield from request_batches(page)
        if after is None:
            return


def write_parallel(
    write: Callable[[list[VectorPoint]], None],
    batches: Iterable[list[VectorPoint]],
    streams: int = STREAMS,
    progress: Progress | None = None,
) -> None:
    """write() each batch, `streams` at a time, reading ahead no further than twice that."""
    with ThreadPoolExecutor(streams, thread_name_prefix="write") as pool:
        sent: dict[Future[None], int] = {}

        def settle(futures: set[Future[None]]) -> None:
            for future in futures:
                future.result()  # a failed request stops the copy
                written = sent.pop(future)
                if progress is not None:
                    progress(written)

        for batch in batches:
            if len(sent) >= 2 * streams:
                done, _ = wait(set(sent), return_when=FIRST_COMPLETED)
                settle(done)
            sent[pool.submit(write, batch)] = len(batch)
        settle(set(sent))


def copy_collection(
    source: VectorStore,
    target: QdrantServerStore,
    spec: CollectionSpec,
    streams: int = STREAMS,
    progress: Progress | None = None,
) -> Copied:
    """Copy collection `spec.name` into the target with indexing deferred, then check that
    both hold as many points (CountMismatch otherwise) and let the target index them."""
    prepare_target(target, spec)
    target.defer_indexing(spec.name)
    batches = point_batches(source, spec.name)
    write_parallel(partial(target.upsert, spec.name), batches, streams, progress)
    expected, found = source.count(spec.name), target.count(spec.name)
    if found != expected:
        raise CountMismatch(
            f"collection {spec.name!r} holds {found} points on the target, {expected} at the "
            "source (was it written to meanwhile?)",
            details={"collection": spec.name, "source": expected, "target": found},
        )
    target.defer_indexing(spec.name, deferred=False)
    logger.info("copied collection %s: %d points", spec.name, found)
    return Copied(spec.name, found)


def copy_aliases(source: VectorStore, target: VectorStore, collections: set[str]) -> None:
    """Point the target's aliases as the source's are, for the aliases of `collections`."""
    for alias, name in source.list_aliases().items():
        if name in collections:
            target.set_alias(alias, name)


def chosen_specs(source: VectorStore, names: Sequence[str] | None) -> list[CollectionSpec]:
    """The source's collections to copy: all, or those named (by their public name, with all
    its versions, or by a version's own name); CollectionNotFound for a name it lacks."""
    specs = source.list_specs()
    if not names:
        return specs
    missing = [n for n in names if not any(n in (s.name, s.public_name) for s in specs)]
    if missing:
        raise CollectionNotFound(f"no collection {missing[0]!r}", details={"missing": missing})
    return [s for s in specs if s.name in names or s.public_name in names]
