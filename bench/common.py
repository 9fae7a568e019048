"""Shared bench setup: real Redis, moto S3 over HTTP, a standalone platform process, photos."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import boto3  # noqa: E402

from mmsearch.infra.local_redis import LocalRedis, free_port  # noqa: E402
from tests.fixtures.images import FLICKR, Photo, flickr_photos, generated_photos  # noqa: E402
from tests.fixtures.platform import Platform  # noqa: E402

KEY, SECRET = "bench-access-key", "bench-secret-key"


def load_photos(count: int) -> tuple[list[Photo], str]:
    """Real Flickr8k photos when ../shared is present, else generated ones."""
    if (FLICKR / "captions.txt").is_file():
        return flickr_photos(count), "flickr8k"
    return generated_photos(count), "generated"


@dataclass
class Stack:
    platform: Platform
    s3: Any
    bucket: str


@contextmanager
def running_stack(model: str, batch_size: int, photos: list[Photo]) -> Iterator[Stack]:
    """Start Redis, moto S3 and `mmsearch standalone`; upload the photos to one bucket."""
    from moto.server import ThreadedMotoServer

    with tempfile.TemporaryDirectory(prefix="mmsearch-bench-") as tmp:
        redis = LocalRedis(Path(tmp) / "redis", persist=False)
        port = free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
        )
        s3.create_bucket(Bucket="bench")
        for photo in photos:
            s3.put_object(Bucket="bench", Key=photo.name, Body=photo.data)
        env = {
            "MMSEARCH_REDIS_URL": redis.url,
            "MMSEARCH_DATA_DIR": str(Path(tmp) / "data"),
            "MMSEARCH_S3_ENDPOINT_URL": endpoint,
            "MMSEARCH_S3_ACCESS_KEY": KEY,
            "MMSEARCH_S3_SECRET_KEY": SECRET,
            "MMSEARCH_DEFAULT_MODEL": model,
            "MMSEARCH_BATCH_SIZE": str(batch_size),
            "MMSEARCH_LOG_LEVEL": "WARNING",
        }
        Path(tmp, "data").mkdir()
        platform = Platform(env, Path(tmp) / "standalone.log")
        try:
            yield Stack(platform, s3, "bench")
        finally:
            platform.stop()
            moto.stop()
            redis.stop()


def decode_all(photos: list[Photo]) -> list[Any]:
    """The photos as RGB PIL images."""
    import io

    from PIL import Image

    return [Image.open(io.BytesIO(p.data)).convert("RGB") for p in photos]
