"""User filters (Qdrant filter JSON over metadata fields) → validated payload filters."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from qdrant_client.http import models

from mmsearch.infra.errors import BadFilter

METADATA = "metadata"
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(\[\])?(\.[A-Za-z0-9_][A-Za-z0-9_\-]*(\[\])?)*$")
_CLAUSES = ("must", "should", "must_not")
MAX_DEPTH = 8


def metadata_key(field: str) -> str:
    """The payload path of a user metadata field."""
    if not _KEY.match(field):
        raise BadFilter(f"invalid field name {field!r}", details={"field": field})
    return f"{METADATA}.{field}"


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
    return _rewrite_filter(normalised, depth=0)


def _readable_loc(loc: tuple[Any, ...]) -> str:
    """Drop pydantic's union/type markers from an error location: must.0.match.value."""
    parts = [str(p) for p in loc if isinstance(p, int) or (p[:1].islower() and "[" not in p)]
    return ".".join(parts)


def _rewrite_filter(flt: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise BadFilter(f"filter nests deeper than {MAX_DEPTH} levels")
    out: dict[str, Any] = {}
    for clause, value in flt.items():
        if clause in _CLAUSES:
            conditions = value if isinstance(value, list) else [value]
            out[clause] = [_rewrite_condition(c, depth) for c in conditions]
        elif clause == "min_should":
            out[clause] = {
                "conditions": [_rewrite_condition(c, depth) for c in value["conditions"]],
                "min_count": value["min_count"],
            }
        else:
            raise BadFilter(f"unsupported filter clause {clause!r}")
    return out


def _rewrite_condition(condition: dict[str, Any], depth: int) -> dict[str, Any]:
    if any(clause in condition for clause in (*_CLAUSES, "min_should")):
        return _rewrite_filter(condition, depth + 1)
    if "key" in condition:
        return {**condition, "key": metadata_key(condition["key"])}
    for kind in ("is_empty", "is_null"):
        if kind in condition:
            return {kind: {"key": metadata_key(condition[kind]["key"])}}
    if "nested" in condition:
        nested = condition["nested"]
        return {
            "nested": {
                "key": metadata_key(nested["key"]),
                "filter": _rewrite_inner(nested["filter"], depth + 1),
            }
        }
    raise BadFilter(f"unsupported filter condition {sorted(condition)}")


def _rewrite_inner(flt: dict[str, Any], depth: int) -> dict[str, Any]:
    """Inside `nested`, keys are relative to the array element: validate but don't prefix."""
    if depth > MAX_DEPTH:
        raise BadFilter(f"filter nests deeper than {MAX_DEPTH} levels")
    for clause in _CLAUSES:
        for condition in flt.get(clause) or []:
            if "key" in condition and not _KEY.match(condition["key"]):
                raise BadFilter(f"invalid field name {condition['key']!r}")
    return flt
