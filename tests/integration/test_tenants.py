"""Tenant isolation over HTTP: a tenant-bound key reads, searches, deletes and counts only its
own items, whatever it asks for. Its own Redis and platform, configured with hashed keys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mmsearch.infra.api_keys import entry_for, new_key
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform, platform_with_redis
from mmsearch.infra.testing.s3 import SECRET_KEY
from tests.fixtures.platform import unique_name
from tests.fixtures.s3 import upload_bucket

pytestmark = pytest.mark.slow  # a platform of its own, configured with keys

KEYS = {name: new_key() for name in ("admin", "a", "b", "a-read")}
ENTRIES = [
    entry_for(KEYS["admin"]),
    entry_for(KEYS["a"], "write", "acme"),
    entry_for(KEYS["b"], "write", "globex"),
    entry_for(KEYS["a-read"], "read", "acme"),
]


class Client:
    def __init__(self, platform: Platform, key: str) -> None:
        self.platform, self.headers = platform, {"Authorization": f"Bearer {key}"}

    def __call__(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.platform.request(method, path, headers=self.headers, **kw)

    def ok(self, method: str, path: str, **kw: Any) -> Any:
        response = self(method, path, **kw)
        assert response.status_code in (200, 201, 202), response.text
        return response.json()

    def ids(self, collection: str, body: dict[str, Any]) -> set[str]:
        found = self.ok("POST", f"/v1/collections/{collection}/search", json=body)["results"]
        return {hit["id"] for hit in found}

    def wait(self, job_id: str) -> dict[str, Any]:
        for _ in range(600):
            job = self.ok("GET", f"/v1/jobs/{job_id}")
            if job["pending"] == 0 and job["status"] not in ("queued", "running"):
                return dict(job)
            time.sleep(0.1)
        raise AssertionError(job)


@pytest.fixture(scope="module")
def tenants(
    tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str, s3_client: Any, tiny_model: str
) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("tenants")
    keys = ",".join(ENTRIES)
    with platform_with_redis(tmp, s3_endpoint, tiny_model, api_keys=keys) as platform:
        yield tenant_data(platform, s3_client, tiny_model)


def tenant_data(platform: Platform, s3_client: Any, tiny_model: str) -> dict[str, Any]:
    """Tenants a and b each ingest their own items into one collection the admin creates."""
    clients = {name: Client(platform, key) for name, key in KEYS.items()}
    photos = generated_photos(7)
    bucket = upload_bucket(s3_client, photos, label="tenants")
    name = unique_name("shared")
    assert clients["a"]("POST", "/v1/collections", json={"name": name}).status_code == 403
    clients["admin"].ok("POST", "/v1/collections", json={"name": name, "model": tiny_model})

    def items(owner: str, chosen: list[Any]) -> dict[str, Any]:
        return {
            "items": [
                {"uri": f"s3://{bucket}/{p.name}", "id": f"x{i}", "metadata": {"owner": owner}}
                for i, p in enumerate(chosen)
            ]
        }

    jobs = {
        "a": clients["a"].ok("POST", f"/v1/collections/{name}/ingest", json=items("a", photos[:4])),
        "b": clients["b"].ok("POST", f"/v1/collections/{name}/ingest", json=items("b", photos[4:])),
    }
    for who in ("a", "b"):
        assert clients[who].wait(jobs[who]["job_id"])["status"] == "succeeded"
    return {"clients": clients, "name": name, "jobs": jobs, "platform": platform}


def test_counts_are_per_tenant(tenants: dict[str, Any]) -> None:
    c, name = tenants["clients"], tenants["name"]
    counts = {who: c[who].ok("GET", f"/v1/collections/{name}")["count"] for who in c}
    assert counts == {"admin": 7, "a": 4, "b": 3, "a-read": 4}
    listed = c["b"].ok("GET", "/v1/collections")["data"]
    assert [x["count"] for x in listed if x["name"] == name] == [3]


def test_searches_see_only_the_own_tenant_whatever_the_filter(tenants: dict[str, Any]) -> None:
    c, name = tenants["clients"], tenants["name"]
    assert c["a"].ids(name, {"text": "shapes", "limit": 50}) == {"x0", "x1", "x2", "x3"}
    assert c["b"].ids(name, {"text": "shapes", "limit": 50}) == {"x0", "x1", "x2"}
    escape = {
        "should": [
            {"key": "owner", "match": {"value": "a"}},
            {"key": "tenant", "match": {"value": "acme"}},
        ]
    }
    assert c["b"].ids(name, {"text": "shapes", "limit": 50, "filter": escape}) == set()
    fanout = c["b"].ok("POST", "/v1/search", json={"text": "x", "collections": [name], "limit": 50})
    assert {h["id"] for h in fanout["results"]} == {"x0", "x1", "x2"}
    recommend = c["b"].ids(name, {"recommend": {"positive": ["x0"]}, "limit": 50})
    assert recommend <= {"x1", "x2"}
    dupes = c["b"].ok("POST", f"/v1/collections/{name}/duplicates", json={"threshold": 0.0})
    assert {i["id"] for g in dupes["groups"] for i in g["items"]} <= {"x0", "x1", "x2"}
    assert c["admin"].ids(name, {"text": "shapes", "limit": 50}) == {"x0", "x1", "x2", "x3"}


def test_items_of_another_tenant_cannot_be_read_changed_or_deleted(
    tenants: dict[str, Any],
) -> None:
    c, name = tenants["clients"], tenants["name"]
    item = f"/v1/collections/{name}/items"
    assert c["a"].ok("GET", f"{item}/x0")["metadata"] == {"owner": "a"}
    assert c["b"].ok("GET", f"{item}/x0")["metadata"] == {"owner": "b"}  # same id, its own item
    assert c["b"]("GET", f"{item}/x3").status_code == 404
    assert c["b"]("PATCH", f"{item}/x3", json={"metadata": {"owner": "b"}}).status_code == 404
    assert c["b"]("DELETE", f"{item}/x3").status_code == 404
    by_filter = {"filter": {"must": [{"key": "owner", "match": {"value": "a"}}]}}
    assert c["b"].ok("POST", f"{item}:delete", json=by_filter)["deleted"] == 0
    assert c["b"].ok("POST", f"{item}:delete", json={"ids": ["x3"]})["deleted"] == 0
    assert c["a-read"]("DELETE", f"{item}/x3").status_code == 403
    assert c["a"].ok("GET", f"/v1/collections/{name}")["count"] == 4


def test_jobs_of_another_tenant_are_not_found(tenants: dict[str, Any]) -> None:
    c, jobs = tenants["clients"], tenants["jobs"]
    a_job = jobs["a"]["job_id"]
    listed = {who: [j["job_id"] for j in c[who].ok("GET", "/v1/jobs")["data"]] for who in c}
    assert listed["a"] == listed["a-read"] == [a_job] and listed["b"] == [jobs["b"]["job_id"]]
    assert set(listed["admin"]) == {a_job, jobs["b"]["job_id"]}
    assert c["a-read"].ok("GET", f"/v1/jobs/{a_job}")["succeeded"] == 4
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/retry")):
        response = c["b"](method, f"/v1/jobs/{a_job}{path}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "job_not_found"


def test_no_key_appears_in_logs(tenants: dict[str, Any]) -> None:
    log = Path(tenants["platform"].log_path).read_text(errors="replace")
    assert all(key not in log for key in KEYS.values())
    assert SECRET_KEY not in log
