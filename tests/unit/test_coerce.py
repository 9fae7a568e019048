"""Metadata values are converted to their declared field types, or refused naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mmsearch.infra.catalog.coerce import MetadataTypeError, coerce_metadata, coerce_value
from mmsearch.infra.vectors.types import FieldType

INT, FLOAT, BOOL, DT = FieldType.INTEGER, FieldType.FLOAT, FieldType.BOOL, FieldType.DATETIME
KEYWORD, TEXT = FieldType.KEYWORD, FieldType.TEXT


@pytest.mark.parametrize(
    ("kind", "given", "stored"),
    [
        (INT, "14", 14),
        (INT, " -014 ", -14),
        (INT, "+7", 7),
        (INT, "14.0", 14),
        (INT, "1e3", 1000),
        (INT, 14.0, 14),
        (INT, 2**63 - 1, 2**63 - 1),
        (INT, str(-(2**63)), -(2**63)),
        (FLOAT, "2.5", 2.5),
        (FLOAT, " -1e-3", -0.001),
        (FLOAT, ".5", 0.5),
        (FLOAT, 3, 3.0),
        (FLOAT, 2**53, float(2**53)),
        (BOOL, "true", True),
        (BOOL, "FALSE", False),
        (BOOL, " True ", True),
        (BOOL, "1", True),
        (BOOL, "0", False),
        (DT, "2024-05-01", "2024-05-01T00:00:00Z"),
        (DT, "2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"),
        (DT, "2024-05-01 10:00", "2024-05-01T10:00:00Z"),
        (DT, "2024-05-01T12:30:00+02:00", "2024-05-01T10:30:00Z"),
        (DT, "2024-05-01T10:00:00.250+00:00", "2024-05-01T10:00:00.250000Z"),
        (KEYWORD, 14, "14"),
        (KEYWORD, 2.5, "2.5"),
        (KEYWORD, "summer", "summer"),
        (TEXT, 7, "7"),
    ],
)
def test_lossless_values_take_the_declared_type(kind: FieldType, given: Any, stored: Any) -> None:
    out = coerce_value(kind, given)
    assert out == stored and type(out) is type(stored)


@pytest.mark.parametrize(
    ("kind", "given"),
    [
        (INT, "14.5"),
        (INT, "abc"),
        (INT, "20x4"),
        (INT, ""),
        (INT, "1_000"),
        (INT, "inf"),
        (INT, "nan"),
        (INT, True),
        (INT, 14.5),
        (INT, float("inf")),
        (INT, 2**63),
        (INT, "1e400"),
        (INT, "1e999999999"),
        (INT, {"a": 1}),
        (INT, [[1]]),
        (FLOAT, "abc"),
        (FLOAT, "1e400"),
        (FLOAT, float("inf")),
        (FLOAT, float("nan")),
        (FLOAT, False),
        (FLOAT, 2**53 + 1),
        (FLOAT, 2**1024),
        (BOOL, "yes"),
        (BOOL, 1),
        (BOOL, 2.0),
        (BOOL, ""),
        (DT, "2024-13-01"),
        (DT, "yesterday"),
        (DT, 1714557600),
        (KEYWORD, True),
        (KEYWORD, {"a": "b"}),
        (KEYWORD, float("inf")),
        (TEXT, ["a", ["b"]]),
    ],
)
def test_lossy_values_are_refused(kind: FieldType, given: Any) -> None:
    with pytest.raises(ValueError):
        coerce_value(kind, given)


def test_lists_convert_each_element_and_keep_nulls() -> None:
    assert coerce_value(INT, ["1", 2, None, "3.0"]) == [1, 2, None, 3]
    assert coerce_value(KEYWORD, ["a", 1]) == ["a", "1"]
    assert coerce_value(INT, None) is None
    with pytest.raises(ValueError, match="element 1"):
        coerce_value(INT, ["1", "x"])


def test_metadata_converts_declared_fields_only() -> None:
    schema = {"words": INT, "album": KEYWORD, "taken": DT, "tags": KEYWORD}
    given = {
        "words": "14",
        "album": 2024,
        "taken": "2024-05-01",
        "tags": [1, "b"],
        "note": "14",
        "nested": {"words": "14"},
    }
    out = coerce_metadata(schema, given)
    assert out == {
        "words": 14,
        "album": "2024",
        "taken": "2024-05-01T00:00:00Z",
        "tags": ["1", "b"],
        "note": "14",
        "nested": {"words": "14"},
    }
    assert given["words"] == "14"  # the input is left as it was
    assert coerce_metadata(schema, out) == out  # converting again changes nothing
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("bad", [{"year": "20x4"}, {"year": {"value": 2024}}, {"year": ["1", []]}])
def test_the_refused_field_is_named(bad: dict[str, Any]) -> None:
    with pytest.raises(MetadataTypeError) as caught:
        coerce_metadata({"album": KEYWORD, "year": INT}, {"album": "a", **bad})
    assert caught.value.field == "year"
    assert "'year'" in str(caught.value)


def test_not_strict_keeps_what_cannot_be_converted() -> None:
    schema = {"year": INT, "ok": BOOL}
    given = {"year": "20x4", "ok": "true"}
    assert coerce_metadata(schema, given, strict=False) == {"year": "20x4", "ok": True}
