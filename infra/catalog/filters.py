"""User filters (Qdrant filter JSON over metadata fields) → validated payload filters.

This is where a client's filter is checked: its shape by qdrant-client's own filter model, then
the rules of this product (conditions on metadata fields only, one test per field condition, a
bounded depth). What comes out is well-formed for both vector stores; a store refuses only what
its engine cannot express (the embedded engine has no geo conditions).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from qdrant_client.http import models

from mmsearch.infra.catalog.payload import check_field_name, metadata_key
from mmsearch.infra.errors import BadFilter

__all__ = ["MAX_DEPTH", "metadata_key", "to_payload_filter"]

_CLAUSES = ("must", "should", "must_not")
_NESTING = (*_CLAUSES, "min_should")
_BOUNDED = ("range", "values_count")
MAX_DEPTH = 8


def to_payload_filter(user_filter: dict[str, Any] | None) -> dict[str, Any] | None:
    """Validate a Qdrant-style filter and point its keys at metadata; raise BadFilter."""
    if user_filter is None:
        return None
    if not isinstance(user_filter, dict):
        raise BadFilter("filter must be a JSON object with must/should/must_not")
    try:
        parsed = models.Filter.model_validate(user_filter)
    except ValidationError as exc:
        errors = [{"loc": _readable_loc(err["loc"]), "msg": err["msg"]} for err in exc.errors()[:5]]
        raise BadFilter("filter is not a valid Qdrant filter", details=errors) from exc
    normalised = parsed.model_dump(mode="json", exclude_none=True, by_alias=True)
    return _filter(normalised, depth=0, in_metadata=True)


def _readable_loc(loc: tuple[Any, ...]) -> str:
    """Drop pydantic's union/type markers from an error location: must.0.match.value."""
    parts = [str(p) for p in loc if isinstance(p, int) or (p[:1].islower() and "[" not in p)]
    return ".".join(parts)


def _filter(flt: dict[str, Any], depth: int, in_metadata: bool) -> dict[str, Any]:
    """A filter with its keys checked (and, at the top, moved under `metadata.`)."""
    if depth > MAX_DEPTH:
        raise BadFilter(f"filter nests deeper than {MAX_DEPTH} levels")
    out: dict[str, Any] = {}
    for clause, value in flt.items():
        if clause in _CLAUSES:
            conditions = value if isinstance(value, list) else [value]
            out[clause] = [_condition(c, depth, in_metadata) for c in conditions]
        elif clause == "min_should":
            if value["min_count"] < 0:
                raise BadFilter("min_should.min_count must not be negative")
            out[clause] = {
                "conditions": [_condition(c, depth, in_metadata) for c in value["conditions"]],
                "min_count": value["min_count"],
            }
        else:
            raise BadFilter(f"unsupported filter clause {clause!r}")
    return out


def _condition(condition: dict[str, Any], depth: int, in_metadata: bool) -> dict[str, Any]:
    if any(clause in condition for clause in _NESTING):
        return _filter(condition, depth + 1, in_metadata)
    if "key" in condition:
        return _field(condition, in_metadata)
    for kind in ("is_empty", "is_null"):
        if kind in condition:
            return {kind: {"key": _key(condition[kind]["key"], in_metadata)}}
    if "nested" in condition:
        nested = condition["nested"]
        return {
            "nested": {
                "key": _key(nested["key"], in_metadata),
                # inside `nested`, keys are relative to the array element: checked, not moved
                "filter": _filter(nested["filter"], depth + 1, in_metadata=False),
            }
        }
    raise BadFilter(f"unsupported filter condition {sorted(condition)}")


def _field(condition: dict[str, Any], in_metadata: bool) -> dict[str, Any]:
    """A field condition: exactly one test (match, range, values_count...) on a valid key."""
    key = _key(condition["key"], in_metadata)
    tests = sorted(set(condition) - {"key"})
    if len(tests) != 1:
        raise BadFilter(
            f"the condition on {condition['key']!r} needs exactly one of match/range/values_count",
            details={"field": condition["key"], "tests": tests},
        )
    if tests[0] in _BOUNDED and not condition[tests[0]]:
        raise BadFilter(f"{tests[0]} on {condition['key']!r} needs at least one bound")
    return {**condition, "key": key}


def _key(name: str, in_metadata: bool) -> str:
    return metadata_key(name) if in_metadata else check_field_name(name)
