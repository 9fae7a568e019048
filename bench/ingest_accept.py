"""Seconds from POST /ingest to its 202 for 1k, 10k and 100k items (each job cancelled at once).

    .venv/bin/python bench/ingest_accept.py --save after.json [--before before.json]

The items are distinct ids over one uploaded photo; each job is cancelled right after its 202,
so the worker embeds almost nothing and the figure is the request's own cost. `--before` reads
the figures a run of another build saved and prints before ÷ now for each size.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from common import bench_parser, running_stack

from mmsearch.infra.testing.photos import generated_photos

logging.getLogger("werkzeug").setLevel(logging.WARNING)

SIZES = (1_000, 10_000, 100_000)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--save", type=Path, help="write the figures here as JSON")
    parser.add_argument("--before", type=Path, help="figures a run of another build saved")
    args = parser.parse_args()
    photo = generated_photos(1)[0]
    figures: dict[str, float] = {}
    with running_stack(args.model, args.batch_size, [photo]) as stack:
        platform = stack.platform
        platform.create_collection("bench", args.model)
        uri = f"s3://{stack.bucket}/{photo.name}"
        for size in SIZES:
            body = {"items": [{"uri": uri, "id": f"i{n}"} for n in range(size)]}
            seconds = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                job = platform.expect(202, "POST", "/v1/collections/bench/ingest", json=body)
                seconds.append(time.perf_counter() - start)
                platform.expect(200, "DELETE", f"/v1/jobs/{job['job_id']}")
            figures[str(size)] = min(seconds)
            print(f"{size:>7} items: {min(seconds):.3f} s to 202 (best of {args.repeats})")
    if args.save:
        args.save.write_text(json.dumps(figures))
    if args.before:
        before = json.loads(args.before.read_text())
        for size, now in figures.items():
            ratio = before[size] / now
            print(f"{int(size):>7} items: before {before[size]:.3f} s ÷ now = {ratio:.1f}")


if __name__ == "__main__":
    main()
