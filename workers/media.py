"""Reading items' media for a batch and embedding it as it arrives.

Items are loaded (fetched, decoded, prepared for the model) ahead of the model: by the feeder's
processes where there are some and the model's input is made by an `ImagePrep` (uint8 pixels,
normalised by the model), else on the worker's fetch threads. Each step of a batch is embedded
as soon as it is loaded, while the rest of the batch is still being loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmsearch.encoders import Encoder
from mmsearch.encoders.image_prep import ImagePrep
from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.jobs.store import ItemFailure
from mmsearch.infra.media.feeder import (
    DecodeLimits,
    Feeder,
    FeederStopped,
    Loaded,
    Prepare,
    load_one,
)
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.uris import MediaRef
from mmsearch.workers.items import IngestItem, item_failure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaLoader:
    """Loads items' images from the object store, within the decode limits: on `feeder`'s
    processes where it is given (and the encoder has an ImagePrep), else on `pool`."""

    objects: ObjectStore
    pool: Executor
    max_pixels: int
    min_side: int
    feeder: Feeder | None = None

    def stream(
        self, encoder: Encoder, items: Sequence[IngestItem]
    ) -> Iterator[tuple[IngestItem, Any, ItemFailure | None]]:
        """Each item with its model input, or with the failure that stands for it, in order;
        all of them are being loaded at once."""
        refs: list[MediaRef] = []
        parsed: list[MediaRef | ItemFailure] = []
        for item in items:
            try:
                refs.append(self.objects.parse(item.uri, tenant=item.tenant))
                parsed.append(refs[-1])
            except ItemError as exc:
                parsed.append(item_failure(item, exc.code, exc.message))
        loaded = self._load(encoder, refs)
        for item, ref in zip(items, parsed, strict=True):
            if isinstance(ref, ItemFailure):
                yield item, None, ref
                continue
            got = next(loaded)
            if got.code:
                yield item, None, item_failure(item, got.code, got.message)
            else:
                yield item, got.value, None

    def _load(self, encoder: Encoder, refs: list[MediaRef]) -> Iterator[Loaded]:
        prep = encoder.image_prep
        if self.feeder is not None and prep is not None:
            return self._fed(self.feeder, refs, prep)
        return self._threaded(prep.geometry if prep is not None else encoder.preprocess, refs)

    def _threaded(self, prepare: Prepare, refs: list[MediaRef]) -> Iterator[Loaded]:
        limits = DecodeLimits(self.max_pixels, self.min_side)
        return self.pool.map(lambda ref: load_one(self.objects, ref, prepare, limits), refs)

    def _fed(self, feeder: Feeder, refs: list[MediaRef], prep: ImagePrep) -> Iterator[Loaded]:
        """The feeder's stream; what it could not load (closed, processes that cannot start)
        is loaded on the fetch threads."""
        done = 0
        try:
            for loaded in feeder.stream(refs, prep):
                done += 1
                yield loaded
        except FeederStopped as exc:
            rest = len(refs) - done
            log.warning("feeder unavailable (%s): loading %d items on threads", exc, rest)
            yield from self._threaded(prep.geometry, refs[done:])


@dataclass
class Embedded:
    """A batch's loaded items and their image vectors (in the same order), and its failures."""

    kept: list[IngestItem] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    failures: list[ItemFailure] = field(default_factory=list)


def load_and_embed(
    media: MediaLoader,
    encoder: Encoder,
    items: Sequence[IngestItem],
    step: int | None = None,
    on_loaded: Callable[[int], None] | None = None,
    on_embedded: Callable[[int], None] | None = None,
) -> Embedded:
    """Image vectors of a batch's items, embedded `step` items at a time as they are loaded
    (all at once without a step). The callbacks are told how many items are loaded (or
    refused) and embedded so far. If the model fails, every loaded item is recorded as
    `embed_failed` and the rest of the batch is still loaded and refused, so none is left out."""
    out = Embedded()
    pending: list[tuple[IngestItem, Any]] = []
    error: str | None = None

    def flush() -> None:
        nonlocal error
        if not pending:
            return
        if error is None:
            try:
                inputs = [value for _, value in pending]
                if encoder.image_prep is not None:
                    out.vectors.append(encoder.embed_pixels(np.stack(inputs)))
                else:
                    out.vectors.append(encoder.embed_preprocessed(inputs))
            except Exception as exc:
                log.exception("embedding failed for %d items", len(pending))
                error = str(exc) or type(exc).__name__
        out.kept += [item for item, _ in pending]
        pending.clear()
        if on_embedded is not None and error is None:
            on_embedded(len(out.kept))

    for count, (item, value, failure) in enumerate(media.stream(encoder, items), start=1):
        if failure is not None:
            out.failures.append(failure)
        else:
            pending.append((item, value))
        if on_loaded is not None:
            on_loaded(count)
        if step is not None and len(pending) >= step:
            flush()
    flush()
    if error is not None:
        out.failures += [item_failure(i, ItemErrorCode.EMBED_FAILED, error) for i in out.kept]
        out.kept, out.vectors = [], []
    return out
