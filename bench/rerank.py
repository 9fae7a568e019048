"""Latency a re-ranker adds to a search: top_k 20 / 50 / 100 candidates read and scored.

.venv/bin/python bench/rerank.py [--model itm:blip-base/random] [--queries 2] [--top-k 20,50,100]

The candidates are Flickr8k photos (generated ones without the shared set) in a folder, read
through the media store and decoded at the model's input size as a search does (`file://`
references), then scored with the query text in batches. `itm:blip-base/random` is BLIP base's
full size (ViT-B/16 at 384 px and a 12-layer text tower) with random weights: the time of
`itm:Salesforce/blip-itm-base-coco`, whose weights cannot be downloaded here. Printed per
top_k: the added latency (p50 over the queries), and how it splits into reading + decoding
and the model.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from mmsearch.api.services.rerank import rerank
from mmsearch.encoders.rerankers import get_reranker
from mmsearch.infra.catalog.payload import ItemPayload
from mmsearch.infra.media.images import decode_image
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.media.video_items import VideoPolicy
from mmsearch.infra.settings import Settings
from mmsearch.infra.testing.photos import real_or_generated
from mmsearch.infra.vectors import Hit


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="itm:blip-base/random")
    parser.add_argument("--queries", type=int, default=2)
    parser.add_argument("--top-k", default="20,50,100")
    args = parser.parse_args()
    depths = [int(k) for k in args.top_k.split(",")]

    photos, source = real_or_generated(max(depths))
    started = time.perf_counter()
    matcher = get_reranker(args.model)
    load_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="rerank-") as tmp:
        root = Path(tmp)
        hits = []
        for photo in photos:
            (root / photo.name).write_bytes(photo.data)
            item = ItemPayload(file_uri(root / photo.name), photo.name, {}, photo.caption)
            hits.append(Hit(str(uuid.uuid4()), 0.0, item.to_payload()))
        settings = Settings(file_root=root)
        objects, policy = ObjectStore(settings), VideoPolicy.from_settings(settings)
        texts = [p.caption for p in photos[: args.queries]]
        rerank(matcher, objects, policy, texts[0], hits[:2])  # warm up
        rows = []
        for k in depths:
            total, reading = [], []
            for text in texts:
                t0 = time.perf_counter()
                rerank(matcher, objects, policy, text, hits[:k])
                total.append(time.perf_counter() - t0)
                t1 = time.perf_counter()
                for hit in hits[:k]:
                    data = (root / hit.payload["id"]).read_bytes()
                    decode_image(
                        data, max_pixels=settings.max_image_pixels, min_side=matcher.image_side
                    )
                reading.append(time.perf_counter() - t1)
            rows.append((k, float(np.median(total)), float(np.median(reading))))

    print(f"{args.model}: loaded in {load_s:.1f} s; {source} photos, {args.queries} queries each")
    for k, total, read in rows:
        print(
            f"top_k {k:4d}: +{total * 1000:9.1f} ms per search ({total / k * 1000:6.1f} ms a "
            f"candidate); reading + decoding alone {read * 1000:7.1f} ms = {read / total:.3f}"
        )


if __name__ == "__main__":
    main()
