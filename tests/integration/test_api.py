"""The HTTP contract: status codes, the error envelope, image queries, cancellation, auth."""

from __future__ import annotations

import base64
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from mmsearch.api.app import create_app
from mmsearch.api.schemas.resources import MAX_TEXT
from mmsearch.encoders import get_encoder
from mmsearch.infra.api_keys import entry_for, new_key
from mmsearch.infra.settings import Settings
from mmsearch.infra.testing.photos import decode, generated_jpeg, generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.http import error_of
from tests.fixtures.platform import new_collection, unique_name
from tests.fixtures.ranking import brute_force
from tests.fixtures.s3 import upload_bucket

DEFAULT_INDEX = {
    "m": 32,
    "ef_construct": 256,
    "hnsw_ef": 512,
    "quantization": "int8",
    "indexing_threshold": 10_000,
}


@pytest.fixture(scope="module")
def indexed(platform: Platform, s3_client: Any, tiny_model: str) -> tuple[str, str]:
    photos = generated_photos(20)
    bucket = upload_bucket(s3_client, photos, label="api")
    name = new_collection(platform, "api", tiny_model)
    items = [{"uri": f"s3://{bucket}/{p.name}", "id": p.name} for p in photos]
    assert platform.wait_job(platform.ingest(name, {"items": items}))["status"] == "succeeded"
    return name, bucket


def test_collection_lifecycle_and_errors(platform: Platform, tiny_model: str) -> None:
    name = unique_name("life")
    created = platform.create_collection(name, tiny_model, payload_schema={"year": "integer"})
    assert created == {
        "name": name,
        "version": f"{name}--v1",
        "active": True,
        "model": tiny_model,
        "dim": 64,
        "count": 0,
        "payload_schema": {"year": "integer"},
        "index": DEFAULT_INDEX,
        "cluster": {
            "shard_number": None,
            "replication_factor": None,
            "write_consistency_factor": None,
        },
        "random_weights": True,
        "keyword": {"language": "english", "avg_len": 16.0, "fields": ["text"], "ready": True},
        "rerank": None,
    }
    tuned = {"m": 8, "ef_construct": 64, "hnsw_ef": 32, "quantization": None}
    custom = platform.create_collection(f"{name}-b", tiny_model, index=tuned)
    assert custom["index"] == {**DEFAULT_INDEX, **tuned}
    fetched = platform.request("GET", f"/v1/collections/{name}-b").json()
    assert fetched["index"] == custom["index"]
    assert platform.request("DELETE", f"/v1/collections/{name}-b").status_code == 200
    again = platform.request("POST", "/v1/collections", json={"name": name, "model": tiny_model})
    assert error_of(again, 409)["code"] == "collection_exists"
    listed = platform.request("GET", "/v1/collections").json()
    assert name in [c["name"] for c in listed["data"]] and listed["count"] == len(listed["data"])
    deleted = platform.request("DELETE", f"/v1/collections/{name}")
    assert deleted.json() == {"name": name, "deleted": True, "versions": [f"{name}--v1"]}
    assert error_of(platform.request("GET", f"/v1/collections/{name}"), 404)["code"] == (
        "collection_not_found"
    )
    missing = platform.request("POST", f"/v1/collections/{name}/search", json={"text": "x"})
    assert error_of(missing, 404)["code"] == "collection_not_found"


def test_request_validation(platform: Platform, indexed: tuple[str, str]) -> None:
    name, _ = indexed
    bad_json = platform.request(
        "POST", "/v1/collections", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert error_of(bad_json, 400)["code"] == "invalid_json"
    bad_name = platform.request("POST", "/v1/collections", json={"name": "../etc"})
    err = error_of(bad_name, 422)
    assert err["code"] == "invalid_request" and err["details"][0]["field"] == "name"
    reserved = platform.request("POST", "/v1/collections", json={"name": "a--v2"})
    assert error_of(reserved, 422)["details"][0]["field"] == "name"
    for index in [{"m": 1}, {"quantization": "binary"}, {"hnsw_ef": "many"}, {"ef": 3}]:
        bad_index = platform.request(
            "POST", "/v1/collections", json={"name": "i1", "model": "x", "index": index}
        )
        field = error_of(bad_index, 422)["details"][0]["field"]
        assert field == f"index.{next(iter(index))}", field
    bad_model = platform.request("POST", "/v1/collections", json={"name": "m1", "model": "nope"})
    assert error_of(bad_model, 422)["code"] == "model_not_allowed"
    both = platform.request(
        "POST", f"/v1/collections/{name}/search", json={"text": "a", "image": {"uri": "s3://b/k"}}
    )
    assert error_of(both, 422)["code"] == "invalid_request"
    no_items = platform.request("POST", f"/v1/collections/{name}/ingest", json={"items": []})
    assert error_of(no_items, 422)["code"] == "invalid_request"
    too_many = platform.request(
        "POST", f"/v1/collections/{name}/ingest", json={"items": [{"uri": "s3://b/k"}] * 5001}
    )
    assert error_of(too_many, 413)["code"] == "too_large"
    huge = platform.request(
        "POST",
        f"/v1/collections/{name}/ingest",
        data=b"x" * (5 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413  # from the HTTP server, on the headers alone (plain text)
    bad_filter = platform.request(
        "POST",
        f"/v1/collections/{name}/search",
        json={"text": "a", "filter": {"must": [{"key": "a", "match": {"valu": 1}}]}},
    )
    assert error_of(bad_filter, 400)["code"] == "bad_filter"
    assert error_of(platform.request("GET", "/v1/jobs/nope"), 404)["code"] == "job_not_found"


def test_image_queries_match_the_encoder(
    platform: Platform, indexed: tuple[str, str], tiny_model: str
) -> None:
    name, bucket = indexed
    photo = generated_photos(20)[7]
    by_uri = platform.search(name, {"image": {"uri": f"s3://{bucket}/{photo.name}"}, "limit": 3})
    assert by_uri["results"][0]["id"] == photo.name
    assert by_uri["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    encoded = base64.b64encode(generated_jpeg(999)).decode()
    by_b64 = platform.search(name, {"image": {"base64": encoded}, "limit": 20})["results"]
    encoder = get_encoder(tiny_model)
    query = encoder.embed_images([decode(generated_jpeg(999))])[0]
    matrix = encoder.embed_images([decode(p.data) for p in generated_photos(20)])
    want = np.sort(matrix @ query)[::-1]
    np.testing.assert_allclose([h["score"] for h in by_b64], want, atol=1e-4)
    not_image = platform.request(
        "POST",
        f"/v1/collections/{name}/search",
        json={"image": {"base64": base64.b64encode(b"hello").decode()}},
    )
    assert error_of(not_image, 400)["code"] == "not_an_image"


def test_cancel_skips_pending_batches(platform: Platform, tiny_model: str) -> None:
    name = new_collection(platform, "cancel", tiny_model)
    items = [{"uri": f"s3://absent-bucket-{i % 3}/k{i}.jpg"} for i in range(3000)]
    job_id = platform.ingest(name, {"items": items})
    cancelled = platform.request("DELETE", f"/v1/jobs/{job_id}").json()
    assert cancelled["status"] == "cancelled"
    time.sleep(1.0)
    final = platform.request("GET", f"/v1/jobs/{job_id}").json()
    assert final["status"] == "cancelled" and final["pending"] > 0
    assert final["succeeded"] + final["failed"] + final["pending"] == 3000


def test_api_keys_have_scopes(redis_url: str, tmp_path: Path) -> None:
    keys = {scope: new_key() for scope in ("read", "write", "admin")}
    entries = [entry_for(key, scope) for scope, key in keys.items()]
    settings = Settings(
        redis_url=redis_url, data_dir=tmp_path, api_keys=entries, models=["mmsearch-tiny/random"]
    )
    client = create_app(settings).test_client()

    def call(method: str, path: str, scope: str | None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {keys[scope]}"} if scope else {}
        return getattr(client, method)(path, headers=headers, **kw)

    for open_path in ("/healthz", "/metrics", "/openapi.json"):
        assert client.get(open_path).status_code in (200, 503)
    denied = call("get", "/v1/collections", None)
    assert denied.status_code == 401 and denied.json["error"]["code"] == "unauthorized"
    wrong = client.get("/v1/collections", headers={"X-API-Key": "w" * 40})
    assert wrong.status_code == 401
    for scope in ("read", "write", "admin"):
        ok = call("get", "/v1/collections", scope)
        assert ok.status_code == 200 and ok.json == {"data": [], "count": 0}
    body = {"name": "scoped", "model": "mmsearch-tiny/random"}
    for scope in ("read", "write"):
        refused = call("post", "/v1/collections", scope, json=body)
        assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
        assert keys[scope] not in refused.get_data(as_text=True)
    ingest = {"items": [{"uri": "s3://b/k.jpg"}]}
    assert call("post", "/v1/collections/none/ingest", "read", json=ingest).status_code == 403
    assert call("post", "/v1/collections/none/ingest", "write", json=ingest).status_code == 404
    assert call("post", "/v1/collections", "admin", json=body).status_code == 201
    assert call("get", "/v1/no-such-route", "read").status_code == 404


def test_keys_are_configured_hashed_only(redis_url: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="plaintext keys are not accepted"):
        Settings(redis_url=redis_url, data_dir=tmp_path, api_keys=["k" * 32])
    with pytest.raises(ValueError, match="16"):
        entry_for("short")
    entry = entry_for("k" * 32, "write")
    assert entry.endswith(":write") and "k" * 32 not in entry


def cache_hits(platform: Platform) -> float:
    for line in platform.request("GET", "/metrics").text.splitlines():
        if line.startswith('mmsearch_query_cache_total{result="hit"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_repeated_text_queries_hit_the_cache(platform: Platform, indexed: tuple[str, str]) -> None:
    name, _ = indexed
    text = f"a cached query {uuid.uuid4().hex}"
    first = platform.search(name, {"text": text, "limit": 20})["results"]
    hits = cache_hits(platform)
    second = platform.search(name, {"text": text, "limit": 20})["results"]
    assert cache_hits(platform) == hits + 1
    assert second == first
    metrics = platform.request("GET", "/metrics").text
    assert 'mmsearch_search_seconds_count{kind="text",scope="collection"}' in metrics


def test_concurrent_text_queries_rank_like_the_encoder_and_report_timings(
    platform: Platform, indexed: tuple[str, str], tiny_model: str
) -> None:
    name, _ = indexed
    photos = generated_photos(20)
    texts = [f"concurrent query {i} {uuid.uuid4().hex[:6]}" for i in range(16)]

    def ask(text: str) -> Any:
        return platform.request(
            "POST", f"/v1/collections/{name}/search", json={"text": text, "limit": 5}
        )

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(ask, texts))
    for text, response in zip(texts, responses, strict=True):
        assert response.status_code == 200, response.text
        want = brute_force(tiny_model, photos, text, list(range(len(photos))))[:5]
        got = response.json()["results"]
        assert [h["id"] for h in got] == [w[0] for w in want]
        np.testing.assert_allclose([h["score"] for h in got], [w[1] for w in want], atol=1e-4)
        phases = dict(
            part.strip().split(";dur=") for part in response.headers["Server-Timing"].split(",")
        )
        assert set(phases) == {"encode", "search", "total"}
        assert float(phases["encode"]) + float(phases["search"]) <= float(phases["total"])


def test_an_oversized_body_is_refused_before_it_is_sent(platform: Platform) -> None:
    """Headers announcing 100 MiB (the limit is 4 MiB) get 413 at once: the server never waits
    for, reads or buffers the body."""
    with socket.create_connection(("127.0.0.1", platform.port), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/collections/any/ingest HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{"
        )
        status_line = conn.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


def test_long_query_text_is_cut_to_the_context_and_too_long_text_refused(
    platform: Platform, indexed: tuple[str, str], tiny_model: str
) -> None:
    name, _ = indexed
    long_text = "a dog running on the beach " * 60  # about 360 tokens: past the 77-token context
    got = platform.search(name, {"text": long_text, "limit": 5})["results"]
    want = brute_force(tiny_model, generated_photos(20), long_text, list(range(20)))[:5]
    assert [h["id"] for h in got] == [w[0] for w in want]  # the encoder's own truncation
    too_long = platform.request(
        "POST", f"/v1/collections/{name}/search", json={"text": "x" * (MAX_TEXT + 1)}
    )
    assert error_of(too_long, 422)["details"][0]["field"] == "text"


def test_thumbnails_come_through_the_api(
    platform: Platform, indexed: tuple[str, str], s3_client: Any
) -> None:
    name, bucket = indexed
    response = platform.request("GET", f"/v1/collections/{name}/thumbnails/gen_0003.jpg")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/jpeg"
    thumb = decode(response.content)
    original = decode(generated_photos(20)[3].data)
    assert thumb.size == original.size  # 160×120 already fits in 256 px
    diff = np.abs(np.asarray(thumb, dtype=int) - np.asarray(original, dtype=int)).mean()
    assert diff < 8  # the same picture, re-encoded
    missing = platform.request("GET", f"/v1/collections/{name}/thumbnails/no-such-item")
    assert error_of(missing, 404)["code"] == "item_not_found"
    s3_client.delete_object(Bucket=bucket, Key="gen_0019.jpg")
    gone = platform.request("GET", f"/v1/collections/{name}/thumbnails/gen_0019.jpg")
    assert error_of(gone, 404)["code"] == "image_not_found"
