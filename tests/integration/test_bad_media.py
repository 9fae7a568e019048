"""Every kind of awkward media inside one real ingest job (S3 over HTTP, worker, engine).

Bad objects end as per-item errors with stable codes; odd but valid images are accepted, and
each is indexed as the upright RGB picture a person sees: a query with that picture finds it
with a score of 1.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from PIL import Image

from mmsearch.infra.testing.photos import generated_jpeg
from mmsearch.infra.testing.platform import Platform, platform_with_redis
from mmsearch.infra.testing.s3 import ACCESS_KEY, SECRET_KEY, LocalS3, aws_client
from tests.fixtures.images import png_bomb, truncated_jpeg
from tests.fixtures.platform import new_collection, unique_name

MAX_IMAGE_BYTES = 8 * 1024 * 1024  # the platform fixture's MMSEARCH_MAX_IMAGE_BYTES


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def picture(seed: int) -> Image.Image:
    return Image.open(io.BytesIO(generated_jpeg(seed, size=(96, 64)))).convert("RGB")


def on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def cmyk() -> tuple[bytes, Image.Image]:
    data = encode(picture(1).convert("CMYK"), "JPEG", quality=95)
    return data, Image.open(io.BytesIO(data)).convert("RGB")


def sixteen_bit() -> tuple[bytes, Image.Image]:
    levels = np.asarray(picture(2).convert("L"), dtype=np.uint16) * 257
    data = encode(Image.fromarray(levels), "PNG")
    return data, Image.fromarray((levels >> 8).astype(np.uint8)).convert("RGB")


def palette(transparent: bool) -> Callable[[], tuple[bytes, Image.Image]]:
    def build() -> tuple[bytes, Image.Image]:
        image = picture(3 + transparent).quantize(32)
        options = {"transparency": 0} if transparent else {}
        data = encode(image, "PNG", **options)
        decoded = Image.open(io.BytesIO(data))
        return data, on_white(decoded) if transparent else decoded.convert("RGB")

    return build


def alpha() -> tuple[bytes, Image.Image]:
    image = picture(5).convert("RGBA")
    mask = np.zeros((64, 96), dtype=np.uint8)
    mask[:, 48:] = 255  # left half transparent
    image.putalpha(Image.fromarray(mask))
    return encode(image, "PNG"), on_white(image)


def grayscale() -> tuple[bytes, Image.Image]:
    gray = picture(6).convert("L")
    return encode(gray, "PNG"), gray.convert("RGB")


def animated() -> tuple[bytes, Image.Image]:
    first, second = picture(7).quantize(64), picture(8).quantize(64)
    data = encode(first, "GIF", save_all=True, append_images=[second])
    return data, Image.open(io.BytesIO(data)).convert("RGB")


def exif_rotated() -> tuple[bytes, Image.Image]:
    image = picture(9)
    exif = image.getexif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to view
    data = encode(image, "JPEG", quality=95, exif=exif)
    return data, Image.open(io.BytesIO(data)).convert("RGB").transpose(Image.Transpose.ROTATE_270)


ACCEPTED = {
    "cmyk.jpg": cmyk,
    "sixteen-bit.png": sixteen_bit,
    "palette.png": palette(transparent=False),
    "palette-alpha.png": palette(transparent=True),
    "alpha.png": alpha,
    "gray.png": grayscale,
    "animated.gif": animated,
    "exif-rotated.jpg": exif_rotated,
}


def png_of(image: Image.Image) -> str:
    return base64.b64encode(encode(image, "PNG")).decode()


def top_hit(platform: Platform, name: str, image: Image.Image) -> dict[str, Any]:
    body = {"image": {"base64": png_of(image)}, "limit": 1}
    return dict(platform.search(name, body)["results"][0])


@pytest.fixture(scope="module")
def media_job(platform: Platform, s3_client: Any, tiny_model: str) -> dict[str, Any]:
    bucket = unique_name("media")
    s3_client.create_bucket(Bucket=bucket)
    expected: dict[str, Image.Image] = {}
    for key, build in ACCEPTED.items():
        data, expected[key] = build()
        s3_client.put_object(Bucket=bucket, Key=key, Body=data)
    bad_objects = {
        "truncated.jpg": (truncated_jpeg(), "corrupt_image"),
        "text.jpg": (b"plain text, no pixels\n", "not_an_image"),
        "zero.jpg": (b"", "not_an_image"),
        "bomb.png": (png_bomb(20_000, 20_000), "too_large"),
        "huge.jpg": (b"\xff" * (MAX_IMAGE_BYTES + 1), "too_large"),
    }
    for key, (data, _) in bad_objects.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=data)
    bad = {f"s3://{bucket}/{key}": code for key, (_, code) in bad_objects.items()}
    bad[f"s3://{bucket}/missing.jpg"] = "not_found"
    bad[f"s3://missing-{uuid.uuid4().hex[:8]}/a.jpg"] = "not_found"
    items = [{"uri": f"s3://{bucket}/{key}", "id": key} for key in ACCEPTED]
    items[4:4] = [{"uri": uri} for uri in bad]  # bad ones in the middle of the job
    name = new_collection(platform, "media", tiny_model)
    job = platform.wait_job(platform.ingest(name, {"items": items}))
    return {"name": name, "job": job, "bad": bad, "expected": expected}


def test_bad_media_fail_alone_with_stable_codes(
    platform: Platform, media_job: dict[str, Any]
) -> None:
    job, bad = media_job["job"], media_job["bad"]
    assert job["status"] == "completed_with_errors"
    assert (job["total"], job["succeeded"], job["failed"], job["pending"]) == (
        len(ACCEPTED) + len(bad),
        len(ACCEPTED),
        len(bad),
        0,
    )
    assert {e["uri"]: e["code"] for e in job["errors"]} == bad
    count = platform.request("GET", f"/v1/collections/{media_job['name']}").json()["count"]
    assert count == len(ACCEPTED)


@pytest.mark.parametrize("key", sorted(ACCEPTED))
def test_odd_images_are_indexed_as_seen(
    platform: Platform, media_job: dict[str, Any], key: str
) -> None:
    hit = top_hit(platform, media_job["name"], media_job["expected"][key])
    assert hit["id"] == key
    assert hit["score"] > 0.999


def test_exif_rotation_is_applied_before_embedding(
    platform: Platform, media_job: dict[str, Any]
) -> None:
    upright = media_job["expected"]["exif-rotated.jpg"]
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    as_stored = top_hit(platform, media_job["name"], sideways)
    assert not (as_stored["id"] == "exif-rotated.jpg" and as_stored["score"] > 0.999)


@contextmanager
def s3_policy_enforced(s3_endpoint: str, deny_get: str) -> Iterator[None]:
    """Make the S3 server check IAM for every request, for the platform's own credentials: they
    may do anything except GetObject on `deny_get` (an ARN pattern)."""
    from moto import settings as moto_settings
    from moto.iam.models import iam_backends

    iam = aws_client(s3_endpoint, "iam")
    user = unique_name("mmsearch")
    iam.create_user(UserName=user)
    statements = [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": deny_get},
    ]
    policy = json.dumps({"Version": "2012-10-17", "Statement": statements})
    iam.put_user_policy(UserName=user, PolicyName="media", PolicyDocument=policy)
    iam.create_access_key(UserName=user)
    # the server's IAM user now owns the credentials the platform already signs with
    backend = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    key = backend.get_user(user).access_keys[0]
    key.access_key_id, key.secret_access_key = ACCESS_KEY, SECRET_KEY
    before = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    try:
        yield
    finally:
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = before
        backend.get_user(user).access_keys.clear()


@pytest.fixture()
def moto_platform(tmp_path: Path, tiny_model: str) -> Iterator[tuple[Platform, str]]:
    """A platform on moto's S3 server: of the local servers, only moto evaluates an IAM policy
    on every request (SeaweedFS's identities cannot deny one prefix of a bucket)."""
    server = LocalS3()
    try:
        with platform_with_redis(tmp_path, server.endpoint, tiny_model) as platform:
            yield platform, server.endpoint
    finally:
        server.stop()


def test_access_denied_by_the_bucket_owner_fails_the_item_alone(
    moto_platform: tuple[Platform, str], tiny_model: str
) -> None:
    platform, s3_endpoint = moto_platform
    s3_client = aws_client(s3_endpoint)
    bucket = unique_name("private")
    s3_client.create_bucket(Bucket=bucket)
    keys = ["open/a.jpg", "denied/b.jpg", "open/c.jpg"]
    for i, key in enumerate(keys):
        s3_client.put_object(Bucket=bucket, Key=key, Body=generated_jpeg(100 + i))
    name = new_collection(platform, "private", tiny_model)
    items = [{"uri": f"s3://{bucket}/{key}", "id": key} for key in keys]
    with s3_policy_enforced(s3_endpoint, f"arn:aws:s3:::{bucket}/denied/*"):
        job = platform.wait_job(platform.ingest(name, {"items": items}))
    assert (job["succeeded"], job["failed"]) == (2, 1)
    assert [(e["id"], e["code"]) for e in job["errors"]] == [("denied/b.jpg", "access_denied")]
    assert SECRET_KEY not in json.dumps(job)
    count = platform.request("GET", f"/v1/collections/{name}").json()["count"]
    assert count == 2
