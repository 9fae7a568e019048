"""Tenant isolation over HTTP: a tenant-bound key reads, searches, deletes and counts only its
own items, whatever it asks for, and names only media within its own sources. Its own Redis and
platform, configured with hashed keys and per-tenant sources."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mmsearch.infra.api_keys import entry_for, new_key
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform, platform_with_redis
from mmsearch.infra.testing.s3 import SECRET_KEY, upload_photos
from tests.fixtures.platform import unique_name

pytestmark = pytest.mark.slow  # a platform of its own, configured with keys

KEYS = {name: new_key() for name in ("admin", "a", "b", "a-read", "c")}
ENTRIES = [
    entry_for(KEYS["admin"]),
    entry_for(KEYS["a"], "write", "acme"),
    entry_for(KEYS["b"], "write", "globex"),
    entry_for(KEYS["a-read"], "read", "acme"),
    entry_for(KEYS["c"], "write", "initech"),  # no sources configured
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
    photos, bucket, root = generated_photos(7), unique_name("tenants"), tmp / "media"
    for tenant, chosen in (("acme", photos[:4]), ("globex", photos[4:])):
        upload_photos(s3_client, bucket, chosen, f"{tenant}/")
        (root / tenant).mkdir(parents=True)
        for photo in chosen:
            (root / tenant / photo.name).write_bytes(photo.data)
    (root / "acme" / "link.jpg").symlink_to(root / "globex" / photos[4].name)
    sources = {t: [f"s3://{bucket}/{t}/", f"file://{root}/{t}/"] for t in ("acme", "globex")}
    settings = {"tenant_sources": json.dumps(sources), "file_root": str(root)}
    with platform_with_redis(
        tmp, s3_endpoint, tiny_model, api_keys=",".join(ENTRIES), **settings
    ) as platform:
        data = tenant_data(platform, photos, bucket, tiny_model)
        yield {**data, "bucket": bucket, "root": root, "photos": photos}


def tenant_data(platform: Platform, photos: list[Any], bucket: str, model: str) -> dict[str, Any]:
    """Tenants a and b each ingest their own items into one collection the admin creates."""
    clients = {name: Client(platform, key) for name, key in KEYS.items()}
    name = unique_name("shared")
    assert clients["a"]("POST", "/v1/collections", json={"name": name}).status_code == 403
    clients["admin"].ok("POST", "/v1/collections", json={"name": name, "model": model})

    def items(owner: str, tenant: str, chosen: list[Any]) -> dict[str, Any]:
        return {
            "items": [
                {
                    "uri": f"s3://{bucket}/{tenant}/{p.name}",
                    "id": f"x{i}",
                    "metadata": {"owner": owner},
                }
                for i, p in enumerate(chosen)
            ]
        }

    ingest = f"/v1/collections/{name}/ingest"
    jobs = {
        "a": clients["a"].ok("POST", ingest, json=items("a", "acme", photos[:4])),
        "b": clients["b"].ok("POST", ingest, json=items("b", "globex", photos[4:])),
    }
    for who in ("a", "b"):
        assert clients[who].wait(jobs[who]["job_id"])["status"] == "succeeded"
    return {"clients": clients, "name": name, "jobs": jobs, "platform": platform}


def test_counts_are_per_tenant(tenants: dict[str, Any]) -> None:
    c, name = tenants["clients"], tenants["name"]
    counts = {who: c[who].ok("GET", f"/v1/collections/{name}")["count"] for who in c}
    assert counts == {"admin": 7, "a": 4, "b": 3, "a-read": 4, "c": 0}
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


def forbidden(response: requests.Response) -> bool:
    return response.status_code == 400 and response.json()["error"]["code"] == "forbidden_uri"


def test_a_tenant_cannot_name_media_of_another(tenants: dict[str, Any]) -> None:
    c, name, bucket, root = (tenants[k] for k in ("clients", "name", "bucket", "root"))
    photo = tenants["photos"][0].name
    ingest, search = f"/v1/collections/{name}/ingest", f"/v1/collections/{name}/search"
    for uri in (f"s3://{bucket}/acme/{photo}", f"file://{root}/acme/{photo}"):
        image = {"image": {"uri": uri}, "limit": 5}
        classify = {"image": {"uri": uri}, "labels": ["a", "b"], "collection": name}
        for who in ("b", "c"):  # another tenant's, and a tenant without sources
            assert forbidden(c[who]("POST", search, json=image))
            assert forbidden(c[who]("POST", "/v1/classify", json=classify))
            job = c[who].ok("POST", ingest, json={"items": [{"uri": uri, "id": "stolen"}]})
            done = c[who].wait(job["job_id"])
            assert done["failed"] == 1 and done["errors"][0]["code"] == "forbidden_uri"
            c[who].ok("POST", f"/v1/jobs/{job['job_id']}/retry", json={})
            again = c[who].wait(job["job_id"])  # a retry is checked as the first run was
            assert again["failed"] == 1 and again["errors"][0]["code"] == "forbidden_uri"
        assert c["a"].ok("POST", search, json=image)["results"]
        assert c["admin"].ok("POST", "/v1/classify", json=classify)["labels"]


def test_a_prefix_outside_the_sources_is_refused_before_a_job(tenants: dict[str, Any]) -> None:
    c, name, bucket, root = (tenants[k] for k in ("clients", "name", "bucket", "root"))
    ingest = f"/v1/collections/{name}/ingest"
    before = len(c["admin"].ok("GET", "/v1/jobs")["data"])
    for prefix in (
        f"s3://{bucket}/acme/",
        f"s3://{bucket}/",
        f"file://{root}/acme/",
        f"file://{root}/globex/../acme/",
    ):
        assert forbidden(c["b"]("POST", ingest, json={"prefix": prefix})), prefix
    assert forbidden(c["c"]("POST", ingest, json={"prefix": f"s3://{bucket}/globex/"}))
    assert len(c["admin"].ok("GET", "/v1/jobs")["data"]) == before


def test_a_symlink_out_of_the_sources_is_forbidden(tenants: dict[str, Any]) -> None:
    c, name, root = tenants["clients"], tenants["name"], tenants["root"]
    search = f"/v1/collections/{name}/search"
    link = {"image": {"uri": f"file://{root}/acme/link.jpg"}, "limit": 5}  # leads to globex/
    assert forbidden(c["a"]("POST", search, json=link))
    assert c["admin"].ok("POST", search, json=link)["results"]  # a key without a tenant may


def test_a_tenant_folder_listing_follows_no_link_out_of_its_sources(
    tenants: dict[str, Any], tiny_model: str
) -> None:
    c, root, photos = tenants["clients"], tenants["root"], tenants["photos"]
    name = unique_name("listing")
    c["admin"].ok("POST", "/v1/collections", json={"name": name, "model": tiny_model})
    prefix = {"prefix": f"file://{root}/acme/"}  # acme/link.jpg leads into globex/
    job = c["a"].wait(c["a"].ok("POST", f"/v1/collections/{name}/ingest", json=prefix)["job_id"])
    assert (job["status"], job["total"], job["errors"]) == ("succeeded", 4, [])
    found = c["a"].ids(name, {"text": "x", "limit": 50})
    assert found == {f"file://{root}/acme/{photo.name}" for photo in photos[:4]}


def test_points_are_read_and_written_within_the_own_tenant(
    tenants: dict[str, Any], tiny_model: str
) -> None:
    c, name = tenants["clients"], tenants["name"]
    path = f"/v1/collections/{name}/points"
    for who, tenant, count in (("a", "acme", 4), ("b", "globex", 3), ("a-read", "acme", 4)):
        data = c[who].ok("GET", path, params={"limit": 100})["data"]
        assert {p["id"] for p in data} == {f"x{i}" for i in range(count)}, who
        assert {p["tenant"] for p in data} == {tenant} and len(data) == count
    assert len(c["admin"].ok("GET", path, params={"limit": 100})["data"]) == 7
    own = c["a"].ok("GET", path, params={"limit": 1})["data"][0]
    point = {key: own[key] for key in ("id", "uri", "metadata", "vectors")}
    target = unique_name("written")
    c["admin"].ok("POST", "/v1/collections", json={"name": target, "model": tiny_model})
    written = f"/v1/collections/{target}/points"
    assert c["a-read"]("POST", written, json={"points": [point]}).status_code == 403
    stolen = {"points": [{**point, "tenant": "globex"}]}
    assert c["a"]("POST", written, json=stolen).status_code == 422
    c["a"].ok("POST", written, json={"points": [point]})
    c["b"].ok("POST", written, json={"points": [point]})  # the same id in another tenant
    assert c["admin"].ok("GET", f"/v1/collections/{target}")["count"] == 2
    assert {p["tenant"] for p in c["admin"].ok("GET", written)["data"]} == {"acme", "globex"}
    assert [p["tenant"] for p in c["b"].ok("GET", written)["data"]] == ["globex"]
    item = c["a"].ok("GET", f"/v1/collections/{target}/items/{point['id']}")
    assert (item["uri"], item["vectors"]) == (point["uri"], ["image"])


def test_media_is_served_to_its_tenant_and_through_signed_links(tenants: dict[str, Any]) -> None:
    c, name, platform = tenants["clients"], tenants["name"], tenants["platform"]
    photo = tenants["photos"][3].data  # tenant a's x3
    media = f"/v1/collections/{name}/media/x3"
    whole = c["a"]("GET", media)
    assert whole.status_code == 200 and whole.content == photo
    part = platform.request("GET", media, headers={**c["a"].headers, "Range": "bytes=10-109"})
    assert part.status_code == 206 and part.content == photo[10:110]
    assert part.headers["Content-Range"] == f"bytes 10-109/{len(photo)}"
    assert c["b"]("GET", media).content != photo  # b's own x3 does not exist: 404
    assert c["b"]("GET", media).status_code == 404
    assert platform.request("GET", media).status_code == 401  # no key, no link
    links = f"/v1/collections/{name}/media-links"
    assert c["b"]("POST", links, json={"id": "x3"}).status_code == 404
    link = c["a-read"].ok("POST", links, json={"id": "x3"})
    assert link["expires_at"] > time.time() + 3000
    opened = platform.request("GET", link["url"], headers={"Range": "bytes=-20"})
    assert opened.status_code == 206 and opened.content == photo[-20:]
    forged = link["url"].replace("tenant=acme", "tenant=globex")
    assert platform.request("GET", forged).status_code == 401
    elsewhere = link["url"].replace("/media/x3", "/media/x0")  # a's x0: not what was signed
    assert platform.request("GET", elsewhere).status_code == 401


def test_media_never_runs_in_the_page_nor_leaves_the_tenants_sources(
    tenants: dict[str, Any],
) -> None:
    c, name, root, bucket = (tenants[k] for k in ("clients", "name", "root", "bucket"))
    (root / "acme" / "page.html").write_text("<script>alert(localStorage)</script>")
    dim = c["admin"].ok("GET", f"/v1/collections/{name}")["dim"]
    unit = [1.0] + [0.0] * (dim - 1)

    def point(item_id: str, uri: str) -> dict[str, Any]:
        return {"id": item_id, "uri": uri, "vectors": {"image": unit}}

    points = f"/v1/collections/{name}/points"
    c["a"].ok("POST", points, json={"points": [point("page", f"file://{root}/acme/page.html")]})
    served = c["a"]("GET", f"/v1/collections/{name}/media/page")
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "application/octet-stream"
    assert served.headers["Content-Disposition"] == "attachment"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    # A point written by tenant b naming a's object: its media is refused, not served.
    stolen = point("stolen", f"s3://{bucket}/acme/{tenants['photos'][0].name}")
    c["b"].ok("POST", points, json={"points": [stolen]})
    for kind in ("media", "thumbnails"):
        refused = c["b"]("GET", f"/v1/collections/{name}/{kind}/stolen")
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "forbidden_uri"
    for who, item in (("a", "page"), ("b", "stolen")):
        c[who].ok("POST", f"/v1/collections/{name}/items:delete", json={"ids": [item]})


def test_sources_are_the_tenants_own(tenants: dict[str, Any], tiny_model: str) -> None:
    """A tenant key adds sources within its tenant's scopes alone; their items are the tenant's,
    with the same ids as another tenant's without clashing; neither sees the other's source."""
    c, bucket = tenants["clients"], tenants["bucket"]
    name = unique_name("synced")
    c["admin"].ok("POST", "/v1/collections", json={"name": name, "model": tiny_model})
    base = f"/v1/collections/{name}/sources"
    refused = c["a"]("POST", base, json={"uri": f"s3://{bucket}/globex/"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "forbidden_uri"
    assert c["a-read"]("POST", base, json={"uri": f"s3://{bucket}/acme/"}).status_code == 403
    mine = {
        who: c[who].ok("POST", base, json={"uri": f"s3://{bucket}/{tenant}/"})["source_id"]
        for who, tenant in (("a", "acme"), ("b", "globex"))
    }
    for who, source_id in mine.items():
        job = c[who].ok("POST", f"{base}/{source_id}/sync", json={})
        assert c[who].wait(job["job_id"])["added"] == (4 if who == "a" else 3)
        assert [s["source_id"] for s in c[who].ok("GET", base)["data"]] == [source_id]
    other = c["b"]("GET", f"{base}/{mine['a']}")
    assert other.status_code == 404 and other.json()["error"]["code"] == "source_not_found"
    assert c["b"]("POST", f"{base}/{mine['a']}/sync", json={}).status_code == 404
    assert c["b"]("DELETE", f"{base}/{mine['a']}").status_code == 404
    counts = {who: c[who].ok("GET", f"/v1/collections/{name}")["count"] for who in ("a", "b")}
    assert counts == {"a": 4, "b": 3}
    assert len(c["admin"].ok("GET", base)["data"]) == 2
