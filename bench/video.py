"""Video sampling on a 1-minute 1080p clip against the bare decoder on the same clip.

.venv/bin/python bench/video.py [--seconds 60] [--model mmsearch-tiny/random] [--gop 2.0]

The clip is made once (kept in the temp folder): the dataset photos as shots of 3 s each with a
slow zoom, 30 fps, H.264. Printed, one run each:
- bare: every frame decoded by PyAV (threads: FFmpeg's choice) and nothing else, frames/s;
- sampled: the frames chosen the way ingest chooses them (shots, min/max interval), decoded
  frames/s and the chosen ones, with the options given; keyframes only where they suffice;
- embedded: the same plus the chosen frames embedded by the model, chosen frames/s, and the
  wall time of the whole video against its duration.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mmsearch.encoders import get_encoder
from mmsearch.infra.media.video import VideoFrames, VideoLimits, VideoOptions
from mmsearch.infra.settings import Settings
from mmsearch.infra.testing.photos import decode, real_or_generated
from mmsearch.infra.testing.videos import scenes_video

SHOT_S, FPS, SIZE = 3.0, 30, (1920, 1080)


def clip(seconds: float, gop: float | None) -> Path:
    path = Path(tempfile.gettempdir()) / f"mmsearch-bench-{seconds:g}s-1080p-gop{gop}.mp4"
    if not path.exists():
        photos, _ = real_or_generated(max(1, round(seconds / SHOT_S)))
        started = time.perf_counter()
        partial = path.with_suffix(".partial.mp4")
        pictures = [decode(p.data) for p in photos]
        scenes_video(pictures, seconds=SHOT_S, fps=FPS, size=SIZE, gop_s=gop, out=partial)
        partial.rename(path)
        print(f"made {path} in {time.perf_counter() - started:.1f} s")
    return path


def bare(path: Path) -> tuple[int, float]:
    import av

    started = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames = sum(1 for _ in container.decode(stream))
    return frames, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--model", default="mmsearch-tiny/random")
    parser.add_argument("--gop", type=float, default=None, help="keyframe every N s (phones: 1)")
    parser.add_argument("--min-interval", type=float, default=1.0)
    parser.add_argument("--max-interval", type=float, default=10.0)
    args = parser.parse_args()
    path = clip(args.seconds, args.gop)
    settings = Settings()
    options = VideoOptions(args.min_interval, args.max_interval, max_frames=1000)
    limits = VideoLimits(min_side=settings.decode_min_side)
    frames, wall = bare(path)
    print(f"clip {path.stat().st_size / 1e6:.1f} MB, {frames} frames of {SIZE}, gop {args.gop}")
    print(f"bare decode      {frames / wall:8.1f} frames/s ({wall:.2f} s)")

    started = time.perf_counter()
    with VideoFrames(path, options, limits) as video:
        chosen = list(video)
    sampled = time.perf_counter() - started
    info = video.info
    print(
        f"sampled          {info.decoded / sampled:8.1f} decoded frames/s ({sampled:.2f} s), "
        f"{info.decoded} decoded, {len(chosen)} chosen, keyframes only: {info.keyframes_only}; "
        f"decoded frames/s ÷ bare {(info.decoded / sampled) / (frames / wall):.2f}; "
        f"video seconds per second {info.duration_s / sampled:.1f} ÷ bare's "
        f"{info.duration_s / wall:.1f} = {wall / sampled:.2f}"
    )
    encoder = get_encoder(args.model)
    encoder.embed_images([chosen[0].image])  # warm
    started = time.perf_counter()
    with VideoFrames(path, options, limits) as video:
        batch = []
        for frame in video:
            batch.append(frame.image)
            if len(batch) == 16:
                encoder.embed_images(batch)
                batch = []
        if batch:
            encoder.embed_images(batch)
    total = time.perf_counter() - started
    print(
        f"sampled+embedded {len(chosen) / total:8.1f} chosen frames/s ({total:.2f} s for "
        f"{info.duration_s:.0f} s of video: {info.duration_s / total:.1f}× real time), "
        f"model {args.model}"
    )


if __name__ == "__main__":
    main()
