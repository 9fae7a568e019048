"""Reading items' media for a batch and embedding it as it arrives.

Items are loaded (fetched, decoded, prepared for the model) ahead of the model: by the feeder's
processes where there are some and the model's input is made by an `ImagePrep` (uint8 pixels,
normalised by the model), else on the worker's fetch threads. Each step of a batch is embedded
as soon as it is loaded, while the rest of the batch is still being loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, replace
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
from mmsearch.infra.media.video import VideoOptions
from mmsearch.infra.media.video_items import (
    DEFAULT_POLICY,
    VideoLoaded,
    VideoPolicy,
    is_video_name,
    is_video_refusal,
    load_video,
)
from mmsearch.workers.items import IngestItem, item_failure
from mmsearch.workers.metrics import IMAGES_EMBEDDED

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
    video: VideoPolicy = DEFAULT_POLICY

    def stream(
        self,
        encoder: Encoder,
        items: Sequence[IngestItem],
        video: dict[str, Any] | None = None,
    ) -> Iterator[tuple[IngestItem, Any, ItemFailure | None]]:
        """Each item with its model input (a video: VideoLoaded, its frames' inputs), or with
        the failure that stands for it; all of them are being loaded at once (videos on the
        fetch threads, sampled by `video`, the job's options). Images come in order, videos
        after them, so a long video holds no image of the batch back."""
        refs: list[MediaRef] = []
        parsed: list[tuple[IngestItem, MediaRef | ItemFailure, bool]] = []
        options = self.video.options(video)
        prepare = self._prepare(encoder)
        for item in items:
            try:
                ref = self.objects.parse(item.uri, tenant=item.tenant)
            except ItemError as exc:
                parsed.append((item, item_failure(item, exc.code, exc.message), False))
                continue
            is_video = is_video_name(item.uri)
            parsed.append((item, ref, is_video))
            if not is_video:
                refs.append(ref)
        loaded = self._load(encoder, refs)  # images first in the fetch threads' queue
        videos = [
            (item, self._video(ref, prepare, options))
            for item, ref, is_video in parsed
            if is_video and isinstance(ref, MediaRef)
        ]
        try:
            for item, entry, is_video in parsed:
                if isinstance(entry, ItemFailure):
                    yield item, None, entry
                elif not is_video:
                    got = next(loaded)
                    if is_video_refusal(got):  # a video by its content
                        videos.append((item, self._video(entry, prepare, options)))
                    else:
                        yield item, *_outcome(item, got)
            for item, future in videos:  # after the images: a long video holds none up
                yield item, *_outcome(item, future.result())
        finally:
            for _, future in videos:
                future.cancel()  # the consumer stopped early: no video decoded for nothing

    def _prepare(self, encoder: Encoder) -> Prepare:
        prep = encoder.image_prep
        return prep.geometry if prep is not None else encoder.preprocess

    def _video(self, ref: MediaRef, prepare: Prepare, options: VideoOptions) -> Future[Loaded]:
        return self.pool.submit(load_video, self.objects, ref, prepare, self.video, options)

    def _load(self, encoder: Encoder, refs: list[MediaRef]) -> Iterator[Loaded]:
        prep = encoder.image_prep
        if self.feeder is not None and prep is not None:
            return self._fed(self.feeder, refs, prep)
        return self._threaded(self._prepare(encoder), refs)

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


def _outcome(item: IngestItem, got: Loaded) -> tuple[Any, ItemFailure | None]:
    if got.code:
        return None, item_failure(item, got.code, got.message)
    return got.value, None


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
    video: dict[str, Any] | None = None,
) -> Embedded:
    """Image vectors of a batch's items, embedded `step` items at a time as they are loaded
    (all at once without a step). The callbacks are told how many items are loaded (or
    refused) and embedded so far; a video's frames are items of their own in `kept` (each with
    its place in the video), sampled by `video` (the job's options). If the model fails, every
    loaded item (a video once) is recorded as `embed_failed` and the rest of the batch is still
    loaded and refused, so none is left out."""
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
                IMAGES_EMBEDDED.inc(len(inputs))
            except Exception as exc:
                log.exception("embedding failed for %d items", len(pending))
                error = str(exc) or type(exc).__name__
        out.kept += [item for item, _ in pending]
        pending.clear()
        if on_embedded is not None and error is None:
            on_embedded(sum(1 for item in out.kept if is_whole(item)))

    loading = media.stream(encoder, items, video)
    for count, (item, value, failure) in enumerate(loading, start=1):
        if failure is not None:
            out.failures.append(failure)
        elif isinstance(value, VideoLoaded):  # its frames, embedded a step at a time
            for index, (t, frame) in enumerate(value.frames):
                pending.append((item.frame(t, value.duration_s, index), frame))
                if step is not None and len(pending) >= step:
                    flush()
        else:
            pending.append((item, value))
        if on_loaded is not None:
            on_loaded(count)
        if step is not None and len(pending) >= step:
            flush()
    flush()
    if error is not None:
        failed = [replace(i, video=None) for i in out.kept if is_whole(i)]
        out.failures += [item_failure(i, ItemErrorCode.EMBED_FAILED, error) for i in failed]
        out.kept, out.vectors = [], []
    return out


def is_whole(item: IngestItem) -> bool:
    """Whether a kept entry stands for an item of its own: an image, or a video's first frame."""
    return item.video is None or item.video.index == 0
