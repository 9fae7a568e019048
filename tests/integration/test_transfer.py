"""Export and import without re-embedding: a collection moved to a fresh platform answers every
kind of query with the same ids and scores, an interrupted export resumes to the same folder an
uninterrupted one writes, and the points endpoints refuse vectors that are not the collection's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmsearch.infra.testing.photos import Photo, generated_photos
from mmsearch.infra.testing.platform import Platform, platform_with_redis
from tests.fixtures.platform import new_collection
from tests.fixtures.s3 import upload_bucket

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = 12


def cli(platform: Platform, *args: str) -> list[str]:
    """The command line of `mmsearch ARGS` against the platform, and its environment."""
    return [sys.executable, "-m", "mmsearch.api.cli", *args, "--api-url", platform.base]


def mmsearch(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = cli(platform, *args)
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


@pytest.fixture(scope="module")
def source(platform: Platform, s3_client: Any, tiny_model: str) -> dict[str, Any]:
    """A collection of captioned images with metadata (every third without a caption)."""
    photos = generated_photos(PHOTOS)
    bucket = upload_bucket(s3_client, photos, prefix="set/", label="transfer")
    schema = {"album": "keyword", "n": "integer"}
    name = new_collection(platform, "transfer", tiny_model, payload_schema=schema)
    items = [
        {
            "uri": f"s3://{bucket}/set/{p.name}",
            "id": f"photo-{i:02d}",
            "metadata": {"album": "ab"[i % 2], "n": i},
            **({"text": p.caption} if i % 3 else {}),
        }
        for i, p in enumerate(photos)
    ]
    job = platform.wait_job(platform.ingest(name, {"items": items}))
    assert job["succeeded"] == PHOTOS, job
    return {"name": name, "photos": photos, "bucket": bucket}


def queries(source: dict[str, Any]) -> list[dict[str, Any]]:
    """One query of each kind: text on images, image, captions, filtered, a stored item."""
    photos: list[Photo] = source["photos"]
    album_a = {"must": [{"key": "album", "match": {"value": "a"}}]}
    return [
        {"text": "red shapes"},
        {"image": {"uri": f"s3://{source['bucket']}/set/{photos[0].name}"}},
        {"text": photos[1].caption, "mode": "text"},
        {"text": photos[2].caption, "mode": "hybrid"},
        {"text": "shapes", "filter": album_a},
        {"item_id": "photo-04"},
    ]


def ranking(platform: Platform, name: str, query: dict[str, Any]) -> list[tuple[str, float]]:
    """Every hit as (id, score), best first; equal scores (fused ranks tie often) by item id, as
    the engine orders them by internal point ids, which differ between collections."""
    results = platform.search(name, {**query, "limit": PHOTOS})["results"]
    return sorted(
        ((hit["id"], hit["score"]) for hit in results), key=lambda h: (-round(h[1], 6), h[0])
    )


@pytest.mark.slow
def test_an_imported_copy_answers_every_query_as_the_source(
    platform: Platform,
    source: dict[str, Any],
    tmp_path: Path,
    s3_endpoint: str,
    tiny_model: str,
) -> None:
    folder = tmp_path / "export"
    exported = mmsearch(platform, "export", source["name"], str(folder), "--chunk-size", "5")
    assert exported.returncode == 0, exported.stderr
    assert "export" in exported.stderr and "12/12" in exported.stderr  # the progress bar
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["count"] == PHOTOS and manifest["collection"]["count"] == PHOTOS
    assert [c["count"] for c in manifest["chunks"]] == [5, 5, 2]
    assert manifest["vectors"] == {"image": PHOTOS, "text": 8}
    assert manifest["collection"]["payload_schema"] == {"album": "keyword", "n": "integer"}
    with platform_with_redis(tmp_path / "fresh", s3_endpoint, tiny_model) as fresh:
        imported = mmsearch(fresh, "import", str(folder), "--as", "copy", "--batch", "4")
        assert imported.returncode == 0, imported.stderr
        copy = fresh.expect(200, "GET", "/v1/collections/copy")
        assert (
            copy["count"] == PHOTOS
            and copy["payload_schema"] == manifest["collection"]["payload_schema"]
        )
        assert copy["index"] == manifest["collection"]["index"]
        for query in queries(source):
            before, after = ranking(platform, source["name"], query), ranking(fresh, "copy", query)
            assert [i for i, _ in before] == [i for i, _ in after], query
            assert np.allclose([s for _, s in before], [s for _, s in after], atol=1e-6), query
        item = fresh.expect(200, "GET", "/v1/collections/copy/items/photo-05")
        assert item == platform.expect(
            200, "GET", f"/v1/collections/{source['name']}/items/photo-05"
        )
        again = mmsearch(fresh, "import", str(folder), "--as", "copy")
        assert again.returncode == 2 and "collection_exists" in again.stderr
        damaged = folder / "chunk-00001.image.npy"
        data = damaged.read_bytes()
        damaged.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # one float changed
        refused = mmsearch(fresh, "import", str(folder), "--as", "copy2")
        assert refused.returncode == 1 and f"{damaged} is damaged" in refused.stderr
        assert fresh.expect(200, "GET", "/v1/collections/copy2")["count"] == 5  # chunk 0 alone


def bulk_points(count: int, dim: int, seed: int = 7) -> list[dict[str, Any]]:
    """Points with random unit vectors (no images: the write endpoint takes vectors as given)."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        {"id": f"p{i}", "uri": f"s3://bulk/p{i}.jpg", "vectors": {"image": v.tolist()}}
        for i, v in enumerate(vectors)
    ]


OPTIONS = ("--chunk-size", "200", "--page-size", "50")


@pytest.fixture(scope="module")
def bulk(platform: Platform, tiny_model: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A collection of 3000 points written through the endpoint, and its uninterrupted export."""
    name = new_collection(platform, "bulk", tiny_model)
    dim = platform.expect(200, "GET", f"/v1/collections/{name}")["dim"]
    points = bulk_points(3000, dim)
    for start in range(0, len(points), 1000):
        body = {"points": points[start : start + 1000]}
        assert platform.expect(200, "POST", f"/v1/collections/{name}/points", json=body)
    folder = tmp_path_factory.mktemp("bulk") / "whole"
    whole = mmsearch(platform, "export", name, str(folder), *OPTIONS)
    assert whole.returncode == 0, whole.stderr
    return name, folder


def kill_once(command: list[str], progress: Path, key: str) -> None:
    """Run a command and kill it (SIGKILL) once its progress file lists something under `key`."""
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL)
    while process.poll() is None:
        try:
            if json.loads(progress.read_text())[key]:
                break
        except (OSError, ValueError):  # not written yet
            pass
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.slow
def test_an_interrupted_export_resumes_to_the_same_folder(
    platform: Platform, bulk: tuple[str, Path], tmp_path: Path
) -> None:
    name, whole = bulk
    folder = tmp_path / "resumed"
    command = cli(platform, "export", name, str(folder), *OPTIONS)
    kill_once(command, folder / "export-progress.json", "chunks")
    assert not (folder / "manifest.json").exists(), "the export ended before it was stopped"
    resumed = mmsearch(platform, "export", name, str(folder), *OPTIONS)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after" in resumed.stderr
    first = json.loads((whole / "manifest.json").read_text())
    second = json.loads((folder / "manifest.json").read_text())
    assert second["count"] == 3000 and second["chunks"] == first["chunks"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in whole.iterdir())


@pytest.mark.slow
def test_an_interrupted_import_resumes_and_writes_every_point(
    platform: Platform, bulk: tuple[str, Path]
) -> None:
    name, folder = bulk
    target = f"{name}-copy"
    progress = folder / f"import-progress-{target}.json"
    command = cli(platform, "import", str(folder), "--as", target, "--batch", "50")
    kill_once(command, progress, "done")
    assert progress.exists(), "the import ended before it was stopped"
    resumed = mmsearch(platform, "import", str(folder), "--as", target)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after" in resumed.stderr and not progress.exists()
    assert platform.expect(200, "GET", f"/v1/collections/{target}")["count"] == 3000
    source = platform.expect(200, "GET", f"/v1/collections/{name}/points", params={"limit": 5})
    copied = platform.expect(
        200, "GET", f"/v1/collections/{target}/items/{source['data'][0]['id']}"
    )
    assert copied["uri"] == source["data"][0]["uri"]


@pytest.mark.slow
def test_points_pages_cover_the_collection_once(platform: Platform, source: dict[str, Any]) -> None:
    path, seen, cursor = f"/v1/collections/{source['name']}/points", [], None
    while True:
        params = {"limit": 5, "vectors": "false", **({"after": cursor} if cursor else {})}
        page = platform.expect(200, "GET", path, params=params)
        seen += [point["id"] for point in page["data"]]
        assert all(point["vectors"] == {} for point in page["data"])
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(seen) == [f"photo-{i:02d}" for i in range(PHOTOS)] and len(seen) == PHOTOS
    album_b = json.dumps({"must": [{"key": "album", "match": {"value": "b"}}]})
    filtered = platform.expect(200, "GET", path, params={"filter": album_b, "limit": 100})
    assert {p["id"] for p in filtered["data"]} == {f"photo-{i:02d}" for i in range(1, PHOTOS, 2)}
    one = filtered["data"][0]
    assert one["metadata"]["album"] == "b" and set(one["vectors"]) <= {"image", "text"}


def refused(platform: Platform, name: str, data: str) -> dict[str, Any]:
    path = f"/v1/collections/{name}/points"
    headers = {"Content-Type": "application/json"}
    answer = platform.expect(422, "POST", path, data=data, headers=headers)
    return dict(answer["error"])


@pytest.mark.slow
def test_vectors_that_are_not_the_collections_are_refused(
    platform: Platform, tiny_model: str
) -> None:
    name = new_collection(platform, "refuse", tiny_model)
    dim = platform.expect(200, "GET", f"/v1/collections/{name}")["dim"]
    good = bulk_points(1, dim)[0]

    def body(vector: list[Any]) -> str:
        return json.dumps({"points": [good, {**good, "id": "bad", "vectors": {"image": vector}}]})

    short = refused(platform, name, body(good["vectors"]["image"][:-1]))
    assert short["details"][0]["field"] == "points.1.vectors.image"
    nan = refused(platform, name, body(["NaN"] * dim).replace('"NaN"', "NaN"))
    assert nan["details"][0]["field"] == "points.1.vectors.image"
    assert "finite" in nan["details"][0]["message"]
    long = refused(platform, name, body([2 * x for x in good["vectors"]["image"]]))
    assert "unit length" in long["details"][0]["message"]
    unknown = refused(platform, name, json.dumps({"points": [{**good, "vectors": {"x": [1.0]}}]}))
    assert unknown["code"] == "invalid_request"
    assert platform.expect(200, "GET", f"/v1/collections/{name}")["count"] == 0
    too_many = {"points": [{}] * 1001}
    platform.expect(413, "POST", f"/v1/collections/{name}/points", json=too_many)
    near = [x * 1.005 for x in good["vectors"]["image"]]  # within 1%: stored re-normalised
    platform.expect(
        200,
        "POST",
        f"/v1/collections/{name}/points",
        json={"points": [{**good, "vectors": {"image": near}}]},
    )
    page = platform.expect(200, "GET", f"/v1/collections/{name}/points")
    assert np.isclose(np.linalg.norm(page["data"][0]["vectors"]["image"]), 1.0, atol=1e-6)
