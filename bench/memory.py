"""Peak memory (RSS high-water mark) of the API and the worker with a model loaded.

.venv/bin/python bench/memory.py [--arch ViT-B-32] [--n 256] [--queries 50]

The architecture's random weights are first saved to a safetensors file and loaded back as
`ARCH/file:PATH`, the way real weights load. Each role then runs in a fresh process and reports
its RSS before the model loads (libraries imported: torch alone takes about 500 MiB here), its
RSS at the end, and its peak:

- api: `create_app` with image queries on; text and image queries through the Flask app.
- api-text: the same with MMSEARCH_API_IMAGE_QUERIES=false (text towers only); text queries.
- worker: `mmsearch.workers.pipeline.embed_and_upsert` (fetch file://, decode, preprocess, embed,
  upsert into the embedded engine) over N photos in batches of MMSEARCH_BATCH_SIZE (64).
- standalone: the real `mmsearch standalone` process (API + worker + engine) after ingesting the
  same N photos from S3 (moto) and answering the same text queries over HTTP.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import running_stack

from mmsearch.infra.local_redis import LocalRedis
from mmsearch.infra.testing.photos import real_or_generated

logging.getLogger("werkzeug").setLevel(logging.WARNING)


def rss_mib() -> dict[str, float]:
    """This process's current RSS and its high-water mark, in MiB."""
    return status_mib(Path("/proc/self/status"))


def status_mib(path: Path) -> dict[str, float]:
    fields = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return {"rss": fields["VmRSS"], "peak": fields["VmHWM"]}


def save_random_weights(arch: str, folder: Path) -> str:
    """`ARCH/file:PATH` for the architecture's random weights, saved as safetensors."""
    from safetensors.torch import save_file

    from mmsearch.encoders import parse_model_name
    from mmsearch.encoders.open_clip_backend import OpenClipEncoder

    encoder = OpenClipEncoder(parse_model_name(f"{arch}/random"))
    state = {k: v.contiguous() for k, v in encoder._model.state_dict().items()}
    path = folder / f"{arch}.safetensors"
    save_file(state, str(path))
    return f"{arch}/file:{path}"


def run_api(
    model: str, redis_url: str, data: Path, photos: Path, queries: int, image_queries: bool
) -> None:
    from mmsearch.api.app import create_app
    from mmsearch.encoders import open_clip_backend  # noqa: F401 - libraries in "before", not the model
    from mmsearch.infra.settings import Settings

    before = rss_mib()
    settings = Settings(
        data_dir=data,
        redis_url=redis_url,
        default_model=model,
        api_image_queries=image_queries,
        query_cache_size=0,
    )
    client = create_app(settings).test_client()
    created = client.post("/v1/collections", json={"name": "m", "model": model})
    assert created.status_code == 201, created.text
    for i in range(queries):
        found = client.post("/v1/collections/m/search", json={"text": f"a photo number {i}"})
        assert found.status_code == 200, found.text
    if image_queries:
        for path in sorted(photos.iterdir())[:queries]:
            image = {"base64": base64.b64encode(path.read_bytes()).decode()}
            found = client.post("/v1/collections/m/search", json={"image": image})
            assert found.status_code == 200, found.text
    print(json.dumps({"before": before, "after": rss_mib()}))


def run_worker(model: str, data: Path, photos: Path, batch: int) -> None:
    from mmsearch.encoders import get_encoder, open_clip_backend  # noqa: F401 - see run_api
    from mmsearch.infra.runtime import Runtime
    from mmsearch.infra.settings import Settings
    from mmsearch.infra.vectors import CollectionSpec
    from mmsearch.workers.items import IngestItem
    from mmsearch.workers.pipeline import embed_and_upsert
    from mmsearch.workers.tasks import media_loader

    before = rss_mib()
    runtime = Runtime(
        Settings(data_dir=data, default_model=model, file_root=photos, batch_size=batch)
    )
    encoder = get_encoder(model)
    runtime.vectors.create_collection(CollectionSpec("m", encoder.dim, model))
    items = [IngestItem(uri=f"file://{p}") for p in sorted(photos.iterdir())]
    spec, media = runtime.vectors.get_collection("m").spec, media_loader(runtime)
    indexed = 0
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        indexed += embed_and_upsert(runtime.vectors, media, encoder, spec, chunk).succeeded
    assert indexed == len(items), indexed
    print(json.dumps({"before": before, "after": rss_mib()}))


def child(
    role: str, model: str, photos: Path, redis_url: str, args: argparse.Namespace
) -> dict[str, Any]:
    """Run one role in a fresh process; its JSON report."""
    with tempfile.TemporaryDirectory(prefix="memory-") as data:
        command = [
            sys.executable,
            __file__,
            "--role",
            role,
            "--redis",
            redis_url,
            "--model",
            model,
            "--photos",
            str(photos),
            "--data",
            data,
            "--queries",
            str(args.queries),
            "--batch",
            str(args.batch),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{role} failed:\n{done.stderr[-3000:]}")
        out = done.stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def standalone(model: str, args: argparse.Namespace) -> dict[str, Any]:
    photos, _ = real_or_generated(args.n)
    with running_stack(model, args.batch, photos) as stack:
        platform, pid = stack.platform, stack.platform.process.pid
        before = status_mib(Path(f"/proc/{pid}/status"))
        platform.create_collection("m", model)
        items = [{"uri": f"s3://bench/{p.name}", "id": p.name} for p in photos]
        assert platform.wait_job(platform.ingest("m", {"items": items}))["succeeded"] == len(items)
        for i in range(args.queries):
            platform.search("m", {"text": f"a photo number {i}"})
        return {"before": before, "after": status_mib(Path(f"/proc/{pid}/status"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="ViT-B-32")
    parser.add_argument("--n", type=int, default=256, help="photos the worker ingests")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--role", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--photos", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role in ("api", "api-text"):
        api = args.role == "api"
        return run_api(args.model, args.redis, args.data, args.photos, args.queries, api)
    if args.role == "worker":
        return run_worker(args.model, args.data, args.photos, args.batch)

    with tempfile.TemporaryDirectory(prefix="memory-bench-") as tmp:
        model = save_random_weights(args.arch, Path(tmp))
        os.environ["MMSEARCH_WEIGHTS_DIRS"] = tmp  # every role below loads weights from here
        photo_dir = Path(tmp, "photos")
        photo_dir.mkdir()
        photos, source = real_or_generated(args.n)
        for photo in photos:
            (photo_dir / photo.name).write_bytes(photo.data)
        print(
            f"model {args.arch} (random weights from a safetensors file), {len(photos)} "
            f"{source} photos, batch {args.batch}, {args.queries} queries per kind"
        )
        print(f"{'role':12} {'RSS before model':>17} {'RSS after':>10} {'peak RSS':>9}  (MiB)")
        print("(standalone: 'before' is after startup, which preloads the model)")
        redis = LocalRedis(Path(tmp) / "redis", persist=False)
        try:
            roles = ("api", "api-text", "worker")
            reports = {role: child(role, model, photo_dir, redis.url, args) for role in roles}
        finally:
            redis.stop()
        reports["standalone"] = standalone(model, args)
        for role, r in reports.items():
            print(
                f"{role:12} {r['before']['rss']:17.0f} {r['after']['rss']:10.0f} "
                f"{r['after']['peak']:9.0f}"
            )
        api, text = reports["api"]["after"], reports["api-text"]["after"]
        print(
            f"api-text / api: peak {text['peak'] / api['peak']:.3f}, "
            f"RSS {text['rss'] / api['rss']:.3f}"
        )


if __name__ == "__main__":
    main()
