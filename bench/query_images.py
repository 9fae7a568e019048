"""Peak memory of 8 concurrent large image queries (16-megapixel RGBA PNGs, about 0.5 MB each).

.venv/bin/python bench/query_images.py [--bursts 3]

Each setting runs in a fresh process with the tiny model loaded: 8 threads embed the same query
image through the API's query path (`embed_image`: decode under the query pixel limit, then
embed), `--bursts` times. "whole" decodes at full size with 8 decodes at once (the behaviour
before query images were reduced and bounded); "default" uses the shipped settings. Prints the
RSS before the bursts, the peak, and the RSS after them, in MiB.
"""

from __future__ import annotations

import argparse
import base64
import gc
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

SETTINGS = {
    "whole": {"decode_min_side": 0, "query_decode_concurrency": 8},
    "default": {},
}


def mib() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) // 1024
    return {"rss": fields["VmRSS"], "peak": fields["VmHWM"]}


def run(label: str, bursts: int) -> None:
    import numpy as np
    from PIL import Image

    from mmsearch.api.schemas.queries import ImageRef
    from mmsearch.api.services.query import embed_image
    from mmsearch.encoders import TINY_TEST_MODEL, get_encoder
    from mmsearch.infra.media.storage import ObjectStore
    from mmsearch.infra.settings import Settings

    ramp = np.linspace(0, 255, 4000, dtype=np.float32)
    pixels = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], ramp[None, :]), axis=-1)
    png = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).convert("RGBA").save(png, "PNG")
    del pixels
    settings = Settings(default_model=TINY_TEST_MODEL, **SETTINGS[label])
    encoder, objects = get_encoder(TINY_TEST_MODEL, device="cpu"), ObjectStore(settings)
    ref = ImageRef(base64=base64.b64encode(png.getvalue()).decode())
    embed_image(objects, settings, encoder, ref, {})  # warm-up: one decode, libraries loaded
    gc.collect()
    before, started = mib(), time.perf_counter()
    for _ in range(bursts):
        threads = [
            threading.Thread(target=embed_image, args=(objects, settings, encoder, ref, {}))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    seconds = (time.perf_counter() - started) / bursts
    gc.collect()
    print(json.dumps({"before": before, "after": mib(), "s_per_burst": seconds}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=3)
    parser.add_argument("--role", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        return run(args.role, args.bursts)
    print(f"{'setting':8} {'RSS before':>10} {'peak':>6} {'RSS after':>9} {'s/burst':>8}  (MiB)")
    for label in SETTINGS:
        command = [sys.executable, __file__, "--role", label, "--bursts", str(args.bursts)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{label:8} {r['before']['rss']:10} {r['after']['peak']:6} {r['after']['rss']:9}"
            f" {r['s_per_burst']:8.2f}"
        )


if __name__ == "__main__":
    main()
