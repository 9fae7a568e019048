"""The ingest feeder against bare decoding: images/s per core of the whole loading pipeline (fetch,
decode, resize in feeder processes, uint8 pixels handed to the model's process in batches)
with a null model, ÷ images/s of one thread that fetches, decodes and resizes by itself. Per
core: the pipeline's rate ÷ the cores of the machine (every process of it shares them).

    .venv/bin/python bench/feeder.py [--n 512] [--side 1600] [--processes 1,2]

Photos are read from a local folder (file://, as `mmsearch run` on a folder of photos does): the
dataset's as stored, or re-encoded with their longest side `--side` pixels (phone photos are
4000). Batches run two at a time, as a worker's two task threads do. `threads` is the loading
path without feeder processes (MMSEARCH_FEED_PROCESSES=0): every item decoded under one GIL.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import numpy as np
from PIL import Image

from mmsearch.encoders import Encoder
from mmsearch.encoders.image_prep import ImagePrep
from mmsearch.infra.media.feeder import DecodeLimits, Feeder, default_processes, load_one
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.settings import Settings
from mmsearch.infra.testing.photos import decode, real_or_generated
from mmsearch.workers.items import IngestItem
from mmsearch.workers.media import MediaLoader, load_and_embed

PREP = ImagePrep(size=(224, 224))  # ViT-B-32's
BATCH, STEP = 64, 16


class NullEncoder:
    """An encoder that takes its batch and stops there (a real one normalises the pixels on
    its device, as part of its forward)."""

    image_prep = PREP
    dim = 512

    def preprocess(self, image: Image.Image) -> np.ndarray:
        return PREP(image)

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return np.zeros((len(pixels), self.dim), np.float32)

    def embed_preprocessed(self, tensors: list[Any]) -> np.ndarray:
        return np.zeros((len(tensors), self.dim), np.float32)


def write_photos(folder: Path, count: int, side: int | None) -> tuple[list[str], str]:
    photos, source = real_or_generated(count)
    uris = []
    for photo in photos:
        data = photo.data
        if side:
            image = decode(data)
            scale = side / max(image.size)
            image = image.resize((round(image.width * scale), round(image.height * scale)))
            out = io.BytesIO()
            image.save(out, "JPEG", quality=90)
            data = out.getvalue()
        path = folder / photo.name
        path.write_bytes(data)
        uris.append(file_uri(path))
    return uris, source


def bare_rate(settings: Settings, uris: list[str]) -> float:
    """Images/s of one thread: fetch, decode and resize each image in turn (the feeder's work;
    normalising is the model's, on its device)."""
    objects = ObjectStore(settings)
    limits = DecodeLimits(settings.max_image_pixels, settings.decode_min_side)
    refs = [objects.parse(uri) for uri in uris]
    started = time.perf_counter()
    for ref in refs:
        load_one(objects, ref, PREP.geometry, limits)
    return len(refs) / (time.perf_counter() - started)


def pipeline_rate(settings: Settings, uris: list[str], feeder: Feeder | None) -> float:
    """Images/s of the loading pipeline, two batches at a time, after a warm-up batch."""
    encoder = cast(Encoder, NullEncoder())
    with ThreadPoolExecutor(settings.fetch_concurrency) as pool:
        media = MediaLoader(
            ObjectStore(settings),
            pool,
            settings.max_image_pixels,
            settings.decode_min_side,
            feeder,
        )
        items = [IngestItem(uri=uri) for uri in uris]
        batches = [items[start : start + BATCH] for start in range(0, len(items), BATCH)]

        def run(batch: list[IngestItem]) -> int:
            out = load_and_embed(media, encoder, batch, STEP)
            assert not out.failures, out.failures[:3]
            return len(out.kept)

        run(batches[0])
        started = time.perf_counter()
        with ThreadPoolExecutor(2) as tasks:
            done = sum(tasks.map(run, batches))
        return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--side", type=int, default=None, help="re-encode at this longest side")
    parser.add_argument("--processes", default=f"1,{default_processes()}")
    args = parser.parse_args()
    counts = sorted({int(p) for p in args.processes.split(",")})

    with tempfile.TemporaryDirectory(prefix="mmsearch-feeder-") as tmp:
        folder = Path(tmp)
        uris, source = write_photos(folder, args.n, args.side)
        settings = Settings(file_root=folder, data_dir=folder / "data", log_level="WARNING")
        bare_rate(settings, uris[:32])  # page cache, imports
        bare = bare_rate(settings, uris)
        cores = default_processes()
        size = f"longest side {args.side}" if args.side else "as stored"
        print(f"{len(uris)} {source} photos ({size}), {cores} cores, batch {BATCH}")
        print(f"bare fetch+decode+resize, one thread: {bare:8.1f} images/s")
        threads = pipeline_rate(settings, uris, None)
        print(
            f"threads in one process (feed 0):     {threads:8.1f} images/s  "
            f"per core ÷ bare per core: {threads / cores / bare:.2f}"
        )
        for processes in counts:
            feeder = Feeder(settings, processes)
            try:
                rate = pipeline_rate(settings, uris, feeder)
            finally:
                feeder.close()
            print(
                f"feeder, {processes} process(es):            {rate:8.1f} images/s  "
                f"per core ÷ bare per core: {rate / cores / bare:.2f}"
            )


if __name__ == "__main__":
    main()
