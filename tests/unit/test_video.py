"""Choosing a video's frames: one per shot and per `max_interval_s`, never closer than
`min_interval_s` nor more than `max_frames`; upright, timed, within the limits; from keyframes
alone where they are dense enough; in every container the platform reads."""

from __future__ import annotations

import io
from itertools import pairwise

import numpy as np
import pytest
from PIL import Image

from mmsearch.infra.errors import ItemError
from mmsearch.infra.media.video import Frame, VideoFrames, VideoLimits, VideoOptions
from mmsearch.infra.testing.photos import decode, generated_photos
from mmsearch.infra.testing.videos import CONTAINERS, scenes_video

PICTURES = [decode(p.data) for p in generated_photos(5)]
SIZE = (160, 120)


def sample(
    data: bytes, options: VideoOptions | None = None, limits: VideoLimits | None = None
) -> tuple[list[Frame], VideoFrames]:
    video = VideoFrames(io.BytesIO(data), options or VideoOptions(), limits or VideoLimits())
    with video:
        return list(video), video


def difference(a: Image.Image, b: Image.Image) -> float:
    b = b.resize(a.size, Image.Resampling.BILINEAR)
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean())


@pytest.mark.parametrize("kind", sorted(CONTAINERS))
def test_one_frame_per_shot_in_every_container(kind: str) -> None:
    data = scenes_video(PICTURES[:3], seconds=2.0, size=SIZE, kind=kind)
    frames, video = sample(data)
    assert [round(f.t, 1) for f in frames] == [0.0, 2.0, 4.0]
    assert all(f.cut for f in frames) and video.info.duration_s == pytest.approx(6.0, abs=0.2)
    for frame, picture in zip(frames, PICTURES, strict=False):
        assert frame.image.mode == "RGB" and frame.image.size == SIZE
        assert difference(frame.image, picture) < 12  # its shot's picture...
        others = [difference(frame.image, other) for other in PICTURES if other is not picture]
        assert difference(frame.image, picture) < min(others) / 2  # ...and no other


def test_a_long_shot_is_seen_every_max_interval() -> None:
    data = scenes_video(PICTURES[:1], seconds=12.0, fps=5, size=SIZE)
    frames, _ = sample(data, VideoOptions(min_interval_s=1, max_interval_s=3))
    assert [round(f.t, 1) for f in frames] == [0.0, 3.0, 6.0, 9.0]
    assert [f.cut for f in frames] == [True, False, False, False]


def test_shots_closer_than_min_interval_wait_for_it() -> None:
    data = scenes_video(PICTURES, seconds=0.6, fps=10, size=SIZE)  # cuts every 0.6 s
    frames, _ = sample(data, VideoOptions(min_interval_s=1.0, max_interval_s=10))
    times = [f.t for f in frames]
    assert times[0] == 0.0 and all(b - a >= 1.0 - 1e-6 for a, b in pairwise(times))
    assert len(frames) == 3  # 0.0, then the first frames 1 s after each pick: 1.2, 2.4


def test_max_frames_spreads_them_over_the_whole_video() -> None:
    data = scenes_video(PICTURES * 2, seconds=1.0, fps=5, size=SIZE)  # 10 shots of 1 s
    frames, _ = sample(data, VideoOptions(min_interval_s=0.5, max_interval_s=5, max_frames=4))
    times = [f.t for f in frames]
    assert len(times) == 4 and times[-1] >= 7.0  # not the first four seconds only
    assert all(b - a >= 2.5 - 1e-6 for a, b in pairwise(times))


def test_dense_keyframes_are_enough() -> None:
    data = scenes_video(PICTURES[:3], seconds=2.0, size=SIZE, gop_s=0.5)
    frames, video = sample(data, VideoOptions(min_interval_s=1.0))
    assert video.info.keyframes_only and video.info.decoded == 12  # of 60 frames
    assert [round(f.t, 1) for f in frames] == [0.0, 2.0, 4.0]
    finer, every = sample(data, VideoOptions(min_interval_s=0.25))  # finer than the keyframes
    assert not every.info.keyframes_only and every.info.decoded == 60
    assert [round(f.t, 1) for f in finer] == [0.0, 2.0, 4.0]


@pytest.mark.parametrize("rotation", [90, -90])
def test_frames_are_upright_by_the_display_rotation(rotation: int) -> None:
    data = scenes_video(PICTURES[:2], size=SIZE, rotation=rotation)
    frames, _ = sample(data)
    assert frames[0].image.size == (SIZE[1], SIZE[0])
    stored = PICTURES[0].resize(SIZE, Image.Resampling.BILINEAR)
    upright = stored.rotate(rotation, expand=True)
    assert difference(frames[0].image, upright) < 12
    assert difference(frames[0].image, upright) < difference(frames[0].image, upright.rotate(180))


def test_frames_are_shrunk_to_the_decode_size() -> None:
    data = scenes_video(PICTURES[:1], seconds=1.0, size=(640, 360))
    frames, _ = sample(data, limits=VideoLimits(min_side=90))
    assert frames[0].image.size == (160, 90)


@pytest.mark.parametrize(
    ("limits", "why"),
    [
        (VideoLimits(max_duration_s=5.0), "exceeds the 5 s limit"),
        (VideoLimits(max_pixels=160 * 120 - 1), "pixel limit"),
    ],
)
def test_videos_over_the_limits_are_too_large(limits: VideoLimits, why: str) -> None:
    data = scenes_video(PICTURES[:3], seconds=2.0, size=SIZE)
    with pytest.raises(ItemError, match=why) as caught:
        sample(data, limits=limits)
    assert caught.value.code == "too_large"


def test_damaged_videos_are_corrupt() -> None:
    data = scenes_video(PICTURES[:3], seconds=2.0, size=SIZE)
    for damaged in (data[:400], data[:48] + bytes(len(data) - 48)):
        with pytest.raises(ItemError) as caught:
            sample(damaged)
        assert caught.value.code == "corrupt_video"
