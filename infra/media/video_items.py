"""Video items at ingest: which items are videos, how their frames are sampled (the job's options
within the server's limits), and loading one into its frames' model inputs."""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from typing import Any

from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.media.feeder import Loaded, Prepare
from mmsearch.infra.media.formats import VIDEO_EXTENSIONS
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.uris import MediaRef
from mmsearch.infra.media.video import VideoFrames, VideoLimits, VideoOptions
from mmsearch.infra.settings import Settings

log = logging.getLogger(__name__)


def is_video_name(uri: str) -> bool:
    """Whether a reference names a video by its extension (others are found by content)."""
    return os.path.splitext(uri.split("?", 1)[0])[1].lower() in VIDEO_EXTENSIONS


def is_video_refusal(loaded: Loaded) -> bool:
    """Whether an image load was refused because the object is a video."""
    return loaded.code == ItemErrorCode.UNSUPPORTED_FORMAT and loaded.message.startswith("video/")


@dataclass(frozen=True)
class VideoPolicy:
    """The server's video settings: limits, and the defaults of a job's sampling options."""

    limits: VideoLimits
    defaults: VideoOptions
    max_bytes: int
    max_frames: int

    @classmethod
    def from_settings(cls, s: Settings) -> VideoPolicy:
        return cls(
            limits=VideoLimits(s.max_video_duration_s, s.max_image_pixels, s.decode_min_side),
            defaults=VideoOptions(s.video_min_interval_s, s.video_max_interval_s, s.video_frames),
            max_bytes=s.max_video_bytes,
            max_frames=s.max_video_frames,
        )

    def options(self, asked: dict[str, Any] | None) -> VideoOptions:
        """A job's sampling: what it asked, else the defaults; frames capped by the server."""
        asked = asked or {}
        low = float(asked.get("min_interval_s") or self.defaults.min_interval_s)
        high = float(asked.get("max_interval_s") or max(self.defaults.max_interval_s, low))
        frames = int(asked.get("max_frames") or self.defaults.max_frames)
        return VideoOptions(min(low, high), high, max(1, min(frames, self.max_frames)))


DEFAULT_POLICY = VideoPolicy(VideoLimits(), VideoOptions(), 512 * 1024 * 1024, 500)


@dataclass(frozen=True)
class VideoLoaded:
    """A video item's chosen frames as model inputs, with their times, and its length."""

    duration_s: float
    frames: list[tuple[float, Any]]


def load_video(
    objects: ObjectStore,
    ref: MediaRef,
    prepare: Prepare,
    policy: VideoPolicy,
    options: VideoOptions,
    data: bytes | None = None,
) -> Loaded:
    """Fetch a video (unless its bytes are given), choose its frames and prepare each for the
    model; never raises."""
    try:
        if data is None:
            data = objects.fetch(ref, limit=policy.max_bytes)
        with VideoFrames(io.BytesIO(data), options, policy.limits) as video:
            frames = [(frame.t, prepare(frame.image)) for frame in video]
            duration = video.info.duration_s or (frames[-1][0] if frames else 0.0)
        if not frames:
            raise ItemError(ItemErrorCode.CORRUPT_VIDEO, "no frame of the video could be decoded")
        return Loaded(VideoLoaded(duration, frames))
    except ItemError as exc:
        return Loaded(None, exc.code, exc.message)
    except Exception as exc:  # one bad item must not sink the batch
        log.exception("unexpected error loading video %s", ref.uri)
        return Loaded(None, ItemErrorCode.CORRUPT_VIDEO, type(exc).__name__)
