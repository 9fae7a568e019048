"""JPEG decode time at full size against the reduced-scale decode ingest uses (decode_min_side).

.venv/bin/python bench/decode.py [--n 50]

On the dataset photos as stored (Flickr8k thumbnails of about 200x150: nothing to reduce) and the
photos re-encoded at 4000x3000 (a 12-megapixel phone photo), one decode at a time.
"""

from __future__ import annotations

import argparse
import io
import time

from PIL import Image

from mmsearch.infra.media.images import decode_image
from mmsearch.infra.settings import Settings
from mmsearch.infra.testing.photos import decode, real_or_generated

LIMIT = 100_000_000


def ms_per_image(datas: list[bytes], min_side: int) -> tuple[float, tuple[int, int]]:
    started = time.perf_counter()
    for data in datas:
        image = decode_image(data, max_pixels=LIMIT, min_side=min_side)
    return (time.perf_counter() - started) / len(datas) * 1000, image.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    min_side = Settings().decode_min_side
    photos, source = real_or_generated(args.n)
    large = []
    for image in [decode(p.data) for p in photos[: max(1, args.n // 5)]]:
        out = io.BytesIO()
        image.resize((4000, 3000), Image.Resampling.BICUBIC).save(out, "JPEG", quality=90)
        large.append(out.getvalue())
    print(f"decode_min_side={min_side}, one thread")
    for label, datas in [(f"{source} as stored", [p.data for p in photos]), ("4000x3000", large)]:
        full, full_size = ms_per_image(datas, 0)
        reduced, size = ms_per_image(datas, min_side)
        print(
            f"{label:24} full {full:6.2f} ms/image {full_size}  reduced {reduced:6.2f} ms/image "
            f"{size}  full / reduced {full / reduced:5.2f}"
        )


if __name__ == "__main__":
    main()
