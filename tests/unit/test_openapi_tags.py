"""The OpenAPI document groups its operations by what they are for, so /docs shows sections."""

from __future__ import annotations

from mmsearch.api.openapi import build_openapi

GROUPS = {
    "collections",
    "ingest & jobs",
    "sources",
    "search",
    "items",
    "points",
    "operations",
}


def test_every_operation_has_a_declared_group_tag() -> None:
    document = build_openapi()
    declared = [tag["name"] for tag in document["tags"]]
    assert set(declared) == GROUPS and len(declared) == len(GROUPS)
    assert all(tag.get("description") for tag in document["tags"])
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert len(operation.get("tags", [])) == 1, f"{method} {path}"
            assert operation["tags"][0] in GROUPS, f"{method} {path}"


def test_tags_follow_the_endpoints_purpose() -> None:
    paths = build_openapi()["paths"]
    assert paths["/v1/collections/{name}/ingest"]["post"]["tags"] == ["ingest & jobs"]
    assert paths["/v1/jobs/{job_id}"]["get"]["tags"] == ["ingest & jobs"]
    assert paths["/v1/collections/{name}/reembed"]["post"]["tags"] == ["collections"]
    assert paths["/v1/search"]["post"]["tags"] == ["search"]
    assert paths["/v1/collections/{name}/items:delete"]["post"]["tags"] == ["items"]
    assert paths["/v1/collections/{name}/points"]["get"]["tags"] == ["points"]
    assert paths["/readyz"]["get"]["tags"] == ["operations"]
