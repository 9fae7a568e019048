"""User filters become payload filters over `metadata.*`; invalid ones raise BadFilter.

Also the stores' checker they go through (`parse_filter`); the stores' refusals on both engines
are in test_vector_congruence.
"""

from __future__ import annotations

from typing import Any

import pytest
from qdrant_client.http import models

from mmsearch.infra.catalog.filters import MAX_DEPTH, to_payload_filter
from mmsearch.infra.catalog.tenancy import scoped
from mmsearch.infra.errors import BadFilter
from mmsearch.infra.vectors import filters as store_filters
from mmsearch.infra.vectors.filters import parse_filter

A_UUID = "0b7e8c4e-2f7c-4f5e-9d33-0c1c1e1f2a3b"


def test_keys_are_moved_under_metadata() -> None:
    user = {
        "must": [
            {"key": "album", "match": {"value": "summer"}},
            {"key": "year", "range": {"gte": 2000, "lt": 2010}},
            {"should": [{"key": "tags[]", "match": {"any": ["a", "b"]}}]},
        ],
        "must_not": [{"is_empty": {"key": "camera.model"}}, {"is_null": {"key": "x"}}],
        "should": [{"key": "kind", "match": {"except": ["raw"]}}],
    }
    assert to_payload_filter(user) == {
        "must": [
            {"key": "metadata.album", "match": {"value": "summer"}},
            {"key": "metadata.year", "range": {"gte": 2000.0, "lt": 2010.0}},
            {"should": [{"key": "metadata.tags[]", "match": {"any": ["a", "b"]}}]},
        ],
        "must_not": [
            {"is_empty": {"key": "metadata.camera.model"}},
            {"is_null": {"key": "metadata.x"}},
        ],
        "should": [{"key": "metadata.kind", "match": {"except": ["raw"]}}],
    }


def test_datetime_ranges_and_none() -> None:
    assert to_payload_filter(None) is None
    out = to_payload_filter({"must": [{"key": "taken", "range": {"gte": "2020-01-01T00:00:00Z"}}]})
    assert out is not None and out["must"][0]["key"] == "metadata.taken"
    assert out["must"][0]["range"]["gte"].startswith("2020-01-01")


@pytest.mark.parametrize(
    "bad",
    [
        {"must": [{"key": "a", "match": {"valu": 1}}]},
        {"must": [{"has_id": ["x"]}]},
        {"must": [{"has_id": [A_UUID]}]},  # a valid filter, but not on metadata
        {"must": [{"has_vector": "image"}]},
        {"must": [{"slice": {"total": 2, "index": 0}}]},
        {"min_should": {"conditions": [{"has_id": [A_UUID]}], "min_count": 1}},
        {"min_should": {"conditions": [{"key": "a b", "match": {"value": 1}}], "min_count": 1}},
        {"must": "not-a-list"},
        {"unknown_clause": []},
        {"must": [{"key": "a b", "match": {"value": 1}}]},
        {"must": [{"key": "../x", "match": {"value": 1}}]},
        [1, 2],
    ],
)
def test_invalid_filters(bad: Any) -> None:
    with pytest.raises(BadFilter):
        to_payload_filter(bad)


def test_nested_filters_check_keys_relative_to_the_element() -> None:
    user = {
        "must": [
            {
                "nested": {
                    "key": "faces",
                    "filter": {"must": [{"key": "age", "range": {"gt": 30}}]},
                }
            }
        ]
    }
    assert to_payload_filter(user) == {
        "must": [
            {
                "nested": {
                    "key": "metadata.faces",
                    "filter": {"must": [{"key": "age", "range": {"gt": 30.0}}]},
                }
            }
        ]
    }


def _deep(levels: int) -> dict[str, Any]:
    flt: dict[str, Any] = {"must": [{"key": "a", "match": {"value": 1}}]}
    for _ in range(levels):
        flt = {"should": [flt]}
    return flt


@pytest.mark.parametrize(
    "bad",
    [
        {"must": [{"key": "year"}]},  # a field condition with nothing to test
        {"must": [{"key": "year", "match": {"value": 1}, "range": {"gt": 1}}]},
        {"must": [{"key": "year", "range": {}}]},
        {"must": [{"key": "tags", "values_count": {}}]},
        {"min_should": {"conditions": [{"key": "a", "match": {"value": 1}}], "min_count": -1}},
        {"must": [{"nested": {"key": "faces", "filter": {"must": [{"has_id": [A_UUID]}]}}}]},
        {"must": [{"nested": {"key": "faces", "filter": {"must": [{"is_null": {"key": "a b"}}]}}}]},
        {"must": [{"nested": {"key": "a b", "filter": {"must": []}}}]},
        {
            "must": [
                {
                    "nested": {
                        "key": "faces",
                        "filter": {"must": [{"key": "a b", "range": {"gt": 1}}]},
                    }
                }
            ]
        },
        {
            "must": [
                {
                    "nested": {
                        "key": "faces",
                        "filter": {"must": [{"key": "../up", "match": {"value": 1}}]},
                    }
                }
            ]
        },
        {"must": [{"nested": {"key": "faces", "filter": {"must": [{"has_vector": "text"}]}}}]},
        {"must": [{"key": "tags", "values_count": {"gte": 1.5}}]},
        {"must": [{"key": "taken", "range": {"gte": "2020-13-01"}}]},
        {"min_should": {"conditions": [{"key": "a", "match": {"value": 1}}], "min_count": 0}},
        _deep(9),
    ],
)
def test_what_both_stores_could_not_take_is_refused_here(bad: dict[str, Any]) -> None:
    with pytest.raises(BadFilter):
        to_payload_filter(bad)


def test_depth_up_to_the_limit_is_fine() -> None:
    assert to_payload_filter(_deep(8)) is not None


def test_min_should_values_count_and_field_flags_are_moved_too() -> None:
    def flt(prefix: str) -> dict[str, Any]:
        conditions = [
            {"key": f"{prefix}tags", "values_count": {"gte": 2}},
            {"key": f"{prefix}album", "is_empty": True},
            {"key": f"{prefix}rating", "is_null": False},
        ]
        taken = {"key": f"{prefix}taken", "range": {"lt": "2021-06-01T00:00:00Z"}}
        return {"min_should": {"conditions": conditions, "min_count": 2}, "must": taken}

    assert to_payload_filter(flt("")) == flt("metadata.")


def test_keys_inside_nested_stay_relative_at_every_level() -> None:
    inner = {"must": [{"is_null": {"key": "x"}}, {"should": [{"is_empty": {"key": "y.z"}}]}]}
    user = {"must": [{"nested": {"key": "faces", "filter": {"must": [_nest("parts", inner)]}}}]}
    assert to_payload_filter(user) == {
        "must": [{"nested": {"key": "metadata.faces", "filter": {"must": [_nest("parts", inner)]}}}]
    }


def _nest(key: str, flt: dict[str, Any]) -> dict[str, Any]:
    return {"nested": {"key": key, "filter": flt}}


def test_errors_name_where_the_filter_is_wrong() -> None:
    with pytest.raises(BadFilter) as caught:
        to_payload_filter({"must": [{"key": "a", "match": {"valu": 1}}]})
    locations = [error["loc"] for error in caught.value.details]
    assert "must.0.match.value" in locations and "must.0.match.valu" in locations


def test_the_stores_accept_what_users_send_with_the_tenant_scope_around_it() -> None:
    # the API's depth limit leaves the stores room for the tenant scope wrapped around a filter
    assert MAX_DEPTH < store_filters.MAX_DEPTH
    for user in [_deep(MAX_DEPTH), {}, {"must": [{"key": "a", "match": {"value": True}}]}]:
        payload_filter = scoped(to_payload_filter(user), "acme")
        assert isinstance(parse_filter(payload_filter), models.Filter)


def test_the_stores_checker_allows_more_depth_than_users_get() -> None:
    assert parse_filter(_deep(store_filters.MAX_DEPTH)) is not None
    with pytest.raises(BadFilter):
        parse_filter(_deep(store_filters.MAX_DEPTH + 1))
    with pytest.raises(BadFilter):
        parse_filter(_deep(MAX_DEPTH + 1), max_depth=MAX_DEPTH)


def test_the_stores_checker_keeps_what_it_was_given() -> None:
    assert parse_filter(None) is None
    flt = {
        "must": [{"has_id": [A_UUID.upper()]}, {"has_vector": "text"}, {}],
        "should": {"key": "metadata.tags", "match": {"except": ["red"]}},
    }
    parsed = parse_filter(flt)
    assert parsed is not None
    assert parsed.model_dump(mode="json", exclude_none=True, by_alias=True) == flt
