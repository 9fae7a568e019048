"""Shared bench setup: real Redis, S3 over HTTP (SeaweedFS) and a standalone platform process."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from mmsearch.infra.testing.photos import Photo  # noqa: E402
from mmsearch.infra.testing.platform import Platform, platform_with_redis  # noqa: E402
from mmsearch.infra.testing.s3 import aws_client, local_s3, upload_photos  # noqa: E402

BUCKET = "bench"


@dataclass
class Stack:
    platform: Platform
    s3: Any
    bucket: str


def bench_parser(doc: str | None, model: str = "mmsearch-tiny/random") -> argparse.ArgumentParser:
    """An argument parser described by the script's first docstring line, with --model."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--model", default=model)
    return parser


@contextmanager
def running_stack(model: str, batch_size: int, photos: list[Photo]) -> Iterator[Stack]:
    """Start Redis, S3 (SeaweedFS; MMSEARCH_TEST_S3=moto for moto's) and `mmsearch standalone`;
    upload the photos to one bucket."""
    s3 = local_s3()
    try:
        client = aws_client(s3.endpoint)
        upload_photos(client, BUCKET, photos)
        settings = {"batch_size": str(batch_size), "log_level": "WARNING"}
        with (
            tempfile.TemporaryDirectory(prefix="mmsearch-bench-") as tmp,
            platform_with_redis(Path(tmp), s3.endpoint, model, **settings) as platform,
        ):
            yield Stack(platform, client, BUCKET)
    finally:
        s3.stop()
