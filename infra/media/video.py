"""Frames of a video, chosen the way a person skims one: the first frame, the first frame of
each new shot, and enough in between that no stretch longer than `max_interval_s` goes unseen;
never two within `min_interval_s`, never more than `max_frames`.

Shots are found by comparing each decoded frame with the one before it on a grid of about
64 samples across, read straight from its Y, U and V planes (no conversion, a fraction of the
decode's cost): the sum over the three planes of the mean absolute difference, 0-1 each (colour
counts, as two shots may differ in hue more than in brightness). Where the stream's keyframes
already come at least every `min_interval_s` (phones: about every second), only keyframes are
decoded: a fraction of the work, and a cut is at most one keyframe gap late. Frames come out
upright (the stream's display rotation), shrunk to the smallest scale that keeps both sides at
least `min_side` long, with their time from the start of the video in seconds. PyAV (FFmpeg)
reads mp4, mov, webm, mkv and avi, from a file or a file-like object.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from mmsearch.infra.errors import ItemError, ItemErrorCode

log = logging.getLogger(__name__)

SCENE_CUT = 0.2  # summed plane differences (see above) between frames that start a shot
_PROBE_SIDE = 64  # samples across each plane
_PLANAR_8_BIT = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"})


@dataclass(frozen=True)
class VideoOptions:
    """How densely a video is sampled (an ingest may set these per job)."""

    min_interval_s: float = 1.0
    max_interval_s: float = 10.0
    max_frames: int = 60


@dataclass(frozen=True)
class VideoLimits:
    """What a video may be (settings): longer, larger or bigger-framed ones fail as too_large."""

    max_duration_s: float = 3600.0
    max_pixels: int = 40_000_000  # per frame
    min_side: int = 0  # frames shrunk to keep both sides at least this long (0: full size)


@dataclass(frozen=True)
class Frame:
    """A chosen frame: upright RGB, `t` seconds from the start; `cut`: it starts a shot."""

    t: float
    image: Image.Image
    cut: bool


@dataclass
class VideoInfo:
    duration_s: float
    width: int
    height: int
    codec: str
    keyframes_only: bool = False
    decoded: int = 0  # frames decoded so far (all of them, chosen or not)


class VideoFrames:
    """A video opened for sampling: `info` at once, the chosen frames by iterating (once)."""

    def __init__(self, source: str | Path | BinaryIO, options: VideoOptions, limits: VideoLimits):
        import av

        self._av = av
        self.options, self.limits = options, limits
        try:
            self._container: Any = av.open(source if not isinstance(source, Path) else str(source))
        except av.FFmpegError as exc:
            raise ItemError(ItemErrorCode.CORRUPT_VIDEO, f"unreadable video: {exc}") from exc
        try:
            self.info = self._probe()
        except BaseException:
            self._container.close()
            raise

    def _probe(self) -> VideoInfo:
        if not self._container.streams.video:
            raise ItemError(ItemErrorCode.NOT_AN_IMAGE, "a media file with no video stream")
        stream = self._container.streams.video[0]
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
        if width <= 0 or height <= 0:
            raise ItemError(ItemErrorCode.CORRUPT_VIDEO, "a video stream with no picture size")
        if width * height > self.limits.max_pixels:
            raise ItemError(
                ItemErrorCode.TOO_LARGE,
                f"{width}x{height} frames exceed the {self.limits.max_pixels}-pixel limit",
            )
        duration = _duration(self._container, stream)
        if duration > self.limits.max_duration_s:
            raise ItemError(
                ItemErrorCode.TOO_LARGE,
                f"{duration:.1f} s of video exceeds the {self.limits.max_duration_s:g} s limit",
            )
        self._stream = stream
        return VideoInfo(duration, width, height, str(stream.codec_context.name))

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoFrames:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        options, info = self.options, self.info
        # Spread the frames over the whole video when it is too long for max_frames at the
        # asked density: the cap is then never what ends the sampling early.
        spacing = info.duration_s / options.max_frames if info.duration_s > 0 else 0.0
        least = max(options.min_interval_s, spacing)
        most = max(options.max_interval_s, least)
        info.keyframes_only = _keyframes_suffice(self._container, self._stream, least)
        last_t: float | None = None
        previous: list[np.ndarray] | None = None
        pending_cut = False
        chosen = 0
        for frame in self._decoded(info.keyframes_only):
            info.decoded += 1
            t = self._seconds(frame)
            if t > self.limits.max_duration_s:
                raise ItemError(
                    ItemErrorCode.TOO_LARGE,
                    f"video runs past the {self.limits.max_duration_s:g} s limit",
                )
            probe = _probe(frame)
            cut = previous is not None and _difference(probe, previous) > SCENE_CUT
            previous = probe
            pending_cut = pending_cut or cut
            if last_t is not None:
                gap = t - last_t
                if not (gap >= most or (pending_cut and gap >= least)):
                    continue
            yield Frame(t, self._picture(frame), cut=pending_cut or last_t is None)
            last_t, pending_cut, chosen = t, False, chosen + 1
            if chosen >= options.max_frames:
                return

    def at(self, t: float) -> Image.Image:
        """The picture `t` seconds from the start (the last frame for a time past the end)."""
        av, stream = self._av, self._stream
        stream.thread_type = "AUTO"
        start = stream.start_time or 0
        last = None
        try:
            self._container.seek(start + int(t / stream.time_base), stream=stream, backward=True)
            for frame in self._container.decode(stream):
                last = frame
                if self._seconds(frame) >= t - 1e-3:
                    break
        except av.FFmpegError as exc:
            raise ItemError(ItemErrorCode.CORRUPT_VIDEO, f"undecodable video: {exc}") from exc
        if last is None:
            raise ItemError(ItemErrorCode.CORRUPT_VIDEO, "no frame of the video could be decoded")
        return self._picture(last)

    def _decoded(self, keyframes_only: bool) -> Iterator[Any]:
        av = self._av
        stream = self._stream
        stream.thread_type = "AUTO"
        try:
            self._container.seek(0)
            for packet in self._container.demux(stream):
                if keyframes_only and not packet.is_keyframe and packet.size:
                    continue
                yield from packet.decode()
        except av.FFmpegError as exc:
            raise ItemError(ItemErrorCode.CORRUPT_VIDEO, f"undecodable video: {exc}") from exc

    def _seconds(self, frame: Any) -> float:
        if frame.pts is None:
            return 0.0
        start = self._stream.start_time or 0
        return max(0.0, float((frame.pts - start) * self._stream.time_base))

    def _picture(self, frame: Any) -> Image.Image:
        """The frame upright, shrunk to keep both sides at least `min_side` long."""
        width, height = frame.width, frame.height
        side = self.limits.min_side
        if side > 0 and min(width, height) > side:
            scale = side / min(width, height)
            width, height = max(1, round(width * scale)), max(1, round(height * scale))
        rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
        image = Image.fromarray(rgb.to_ndarray())
        rotation = int(getattr(frame, "rotation", 0) or 0) % 360
        return image.rotate(rotation, expand=True) if rotation else image


def _probe(frame: Any) -> list[np.ndarray]:
    """A frame's Y, U and V planes sampled on a grid of about 64 across."""
    if frame.format.name not in _PLANAR_8_BIT:
        frame = frame.reformat(width=_PROBE_SIDE, height=_PROBE_SIDE, format="yuv420p")
    samples = []
    for plane in frame.planes[:3]:
        pixels = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        step = max(1, plane.width // _PROBE_SIDE)
        samples.append(pixels[::step, : plane.width : step].astype(np.float32))
    return samples


def _difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return sum(float(np.abs(x - y).mean()) for x, y in zip(a, b, strict=True)) / 255


def _duration(container: Any, stream: Any) -> float:
    """Seconds of video by the stream's header, else the container's (0.0 when neither says)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        seconds = float(container.duration) / 1_000_000
        if "matroska" in str(container.format.name) and container.start_time:
            seconds -= float(container.start_time) / 1_000_000  # its demuxer counts from 0
        return max(0.0, seconds)
    return 0.0


def _keyframes_suffice(container: Any, stream: Any, least_s: float) -> bool:
    """Whether the stream's keyframes come at least every `least_s` seconds (read from the
    packets alone, nothing decoded)."""
    times: list[float] = []
    try:
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.pts is not None:
                times.append(float(packet.pts * stream.time_base))
    except Exception:  # a damaged index: decode every frame instead
        log.debug("could not read the keyframes of a video", exc_info=True)
        return False
    if len(times) < 2:
        return False
    times.sort()
    return max(b - a for a, b in zip(times, times[1:], strict=False)) <= least_s
