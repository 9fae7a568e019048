"""User filters become payload filters over `metadata.*`; invalid ones raise BadFilter."""

from __future__ import annotations

from typing import Any

import pytest

from mmsearch.infra.catalog.filters import to_payload_filter
from mmsearch.infra.errors import BadFilter


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
        {"must": [{"nested": {"key": "faces", "filter": {"must": [{"has_id": ["x"]}]}}}]},
        {"must": [{"nested": {"key": "faces", "filter": {"must": [{"is_null": {"key": "a b"}}]}}}]},
        {"must": [{"nested": {"key": "a b", "filter": {"must": []}}}]},
        _deep(9),
    ],
)
def test_what_both_stores_could_not_take_is_refused_here(bad: dict[str, Any]) -> None:
    with pytest.raises(BadFilter):
        to_payload_filter(bad)


def test_depth_up_to_the_limit_is_fine() -> None:
    assert to_payload_filter(_deep(8)) is not None
