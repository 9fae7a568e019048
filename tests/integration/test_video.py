"""Videos in a real ingest job (S3 over HTTP, worker, engine): a video becomes its moments, each
found with the video's id and the time it happens; the video is one item to read and delete;
damaged videos and videos over the limits fail alone."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from PIL import Image

from mmsearch.infra.testing.photos import decode, generated_photos, real_or_generated
from mmsearch.infra.testing.platform import Platform
from mmsearch.infra.testing.videos import scenes_video
from tests.fixtures.platform import new_collection, unique_name

LIMIT_S = 60  # the session platform's MMSEARCH_MAX_VIDEO_DURATION_S


def png_of(image: Image.Image) -> str:
    out = io.BytesIO()
    image.save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


@pytest.fixture(scope="module")
def videos(platform: Platform, s3_client: Any, tiny_model: str) -> dict[str, Any]:
    photos, _ = real_or_generated(6)
    pictures = [decode(p.data) for p in photos]
    bucket = unique_name("videos")
    s3_client.create_bucket(Bucket=bucket)
    moments = scenes_video(pictures[:3], seconds=2.0, size=(320, 240))
    objects = {
        "moments.mp4": moments,
        "clip": scenes_video(pictures[3:5], seconds=2.0, size=(320, 240), kind="webm"),
        "still.jpg": photos[5].data,
        "broken.mp4": moments[:64] + bytes(4096),
        "long.mp4": scenes_video(
            [decode(generated_photos(1)[0].data)], seconds=LIMIT_S + 5, fps=1, size=(64, 48)
        ),
    }
    for key, data in objects.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=data)
    name = new_collection(platform, "videos", tiny_model)
    items = [{"uri": f"s3://{bucket}/{key}", "id": key} for key in objects]
    job = platform.wait_job(platform.ingest(name, {"items": items}))
    return {"name": name, "bucket": bucket, "job": job, "pictures": pictures}


def _search(platform: Platform, name: str, image: Image.Image, **extra: Any) -> dict[str, Any]:
    return platform.search(name, {"image": {"base64": png_of(image)}, **extra})


def test_videos_are_counted_with_their_frames(videos: dict[str, Any]) -> None:
    job = videos["job"]
    assert (job["succeeded"], job["failed"], job["videos"], job["frames"]) == (3, 2, 2, 5)
    codes = {error["id"]: error["code"] for error in job["errors"]}
    assert codes == {"broken.mp4": "corrupt_video", "long.mp4": "too_large"}


def test_a_moment_is_found_with_its_video_and_time(
    platform: Platform, videos: dict[str, Any]
) -> None:
    for shot, picture in enumerate(videos["pictures"][:3]):
        (hit,) = _search(platform, videos["name"], picture, limit=1)["results"]
        assert hit["id"] == "moments.mp4" and hit["video"]["id"] == "moments.mp4"
        assert hit["uri"] == f"s3://{videos['bucket']}/moments.mp4"
        assert 2.0 * shot <= hit["video"]["t"] < 2.0 * (shot + 1)
        assert hit["score"] > 0.99
    (still,) = _search(platform, videos["name"], videos["pictures"][5], limit=1)["results"]
    assert still["id"] == "still.jpg" and "video" not in still


def test_group_by_video_gives_each_video_its_best_moments(
    platform: Platform, videos: dict[str, Any]
) -> None:
    body = {"group_by": "video", "group_size": 3, "limit": 5}
    groups = _search(platform, videos["name"], videos["pictures"][1], **body)["groups"]
    assert [group["key"] for group in groups] == ["moments.mp4", "clip"]
    best = groups[0]["results"]
    assert len(best) == 3 and 2.0 <= best[0]["video"]["t"] < 4.0
    assert all(hit["video"]["id"] == "moments.mp4" for hit in best)
    assert [hit["score"] for hit in best] == sorted((hit["score"] for hit in best), reverse=True)


def test_a_video_is_one_item(platform: Platform, videos: dict[str, Any], tiny_model: str) -> None:
    name = new_collection(platform, "video-item", tiny_model)
    uri = f"s3://{videos['bucket']}/moments.mp4"
    first = platform.wait_job(platform.ingest(name, {"items": [{"uri": uri, "id": "m"}]}))
    assert first["frames"] == 3
    item = platform.request("GET", f"/v1/collections/{name}/items/m").json()
    assert item["video"] == {"frames": 3, "duration_s": pytest.approx(6.0, abs=0.2)}
    # Sampled again more densely: the new frames replace the old ones, none left over.
    denser = {"items": [{"uri": uri, "id": "m"}], "video": {"max_interval_s": 1.0}}
    assert platform.wait_job(platform.ingest(name, denser))["frames"] == 6
    collection = platform.request("GET", f"/v1/collections/{name}").json()
    assert collection["count"] == 6
    patched = platform.request(
        "PATCH", f"/v1/collections/{name}/items/m", json={"metadata": {"place": "lake"}}
    )
    assert patched.status_code == 200
    hits = _search(platform, name, videos["pictures"][2], limit=6)["results"]
    assert len(hits) == 6 and all(hit["metadata"] == {"place": "lake"} for hit in hits)
    assert platform.request("DELETE", f"/v1/collections/{name}/items/m").status_code == 200
    assert platform.request("GET", f"/v1/collections/{name}").json()["count"] == 0
    assert platform.request("GET", f"/v1/collections/{name}/items/m").status_code == 404


def test_thumbnails_show_the_moment(platform: Platform, videos: dict[str, Any]) -> None:
    import numpy as np

    path = f"/v1/collections/{videos['name']}/thumbnails/moments.mp4"
    shown = {}
    for t in ("", "?t=2.5", "?t=4.0", "?t=999"):
        response = platform.request("GET", path + t)
        assert response.status_code == 200 and response.headers["Content-Type"] == "image/jpeg"
        shown[t] = Image.open(io.BytesIO(response.content)).convert("RGB")

    def distance(image: Image.Image, picture: Image.Image) -> float:
        scaled = picture.resize(image.size, Image.Resampling.BILINEAR)
        a, b = np.asarray(image, dtype=np.float64), np.asarray(scaled, dtype=np.float64)
        return float(np.abs(a - b).mean())

    pictures = videos["pictures"][:3]
    for t, shot in (("", 0), ("?t=2.5", 1), ("?t=4.0", 2), ("?t=999", 2)):
        gaps = [distance(shown[t], picture) for picture in pictures]
        assert gaps.index(min(gaps)) == shot, (t, gaps)
    bad = platform.request("GET", path + "?t=-1")
    assert bad.status_code == 422


def test_a_video_plays_through_range_requests(platform: Platform, videos: dict[str, Any]) -> None:
    path = f"/v1/collections/{videos['name']}/media/moments.mp4"
    whole = platform.request("GET", path)
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    size = len(whole.content)
    assert whole.headers["Content-Type"] == "video/mp4"
    part = platform.request("GET", path, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == whole.content[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{size}"
    tail = platform.request("GET", path, headers={"Range": f"bytes={size - 10}-"})
    assert tail.status_code == 206 and tail.content == whole.content[-10:]
    beyond = platform.request("GET", path, headers={"Range": f"bytes={size + 5}-"})
    assert beyond.status_code == 416
    link = platform.request(
        "POST", f"/v1/collections/{videos['name']}/media-links", json={"id": "moments.mp4"}
    )
    assert link.status_code == 200 and link.json()["url"].startswith(path + "?")
