"""Qdrant filter JSON (the REST shape) → qdrant_edge `Filter` objects; the rest is BadFilter."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import qdrant_edge as qe

from mmsearch.infra.errors import BadFilter

MAX_DEPTH = 16
_CLAUSES = ("must", "should", "must_not")
_RANGE_KEYS = frozenset({"gt", "gte", "lt", "lte"})
_GEO = ("geo_bounding_box", "geo_radius", "geo_polygon")


def to_edge_filter(flt: dict[str, Any] | None) -> qe.Filter | None:
    """The qdrant_edge Filter for a Qdrant REST filter (None passes through); raise BadFilter."""
    if flt is None:
        return None
    try:
        return _filter(flt, 0)
    except (ValueError, TypeError, OverflowError) as exc:  # raised by the binding's constructors
        raise BadFilter(f"invalid filter: {exc}") from exc


def _filter(flt: Any, depth: int) -> qe.Filter:
    if not isinstance(flt, dict):
        raise BadFilter("a filter must be an object with must/should/must_not/min_should")
    if depth > MAX_DEPTH:
        raise BadFilter(f"filter nests deeper than {MAX_DEPTH} levels")
    unknown = set(flt) - {*_CLAUSES, "min_should"}
    if unknown:
        raise BadFilter(f"unsupported filter clause(s): {sorted(unknown)}")
    must, should, must_not = (
        None if flt.get(c) is None else _conditions(flt[c], depth) for c in _CLAUSES
    )
    return qe.Filter(must, should, must_not, _min_should(flt.get("min_should"), depth))


def _min_should(arg: Any, depth: int) -> qe.MinShould | None:
    if arg is None:
        return None
    if not isinstance(arg, dict) or set(arg) != {"conditions", "min_count"}:
        raise BadFilter("min_should must be {conditions: [...], min_count: n}")
    if not _is_int(arg["min_count"]) or arg["min_count"] < 0:
        raise BadFilter("min_should.min_count must be a non-negative integer")
    return qe.MinShould(_conditions(arg["conditions"], depth), arg["min_count"])


def _conditions(value: Any, depth: int) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    return [_condition(c, depth) for c in items]


def _condition(cond: Any, depth: int) -> Any:
    if not isinstance(cond, dict) or not cond:
        raise BadFilter(f"a condition must be a non-empty object, got {cond!r:.80}")
    if set(cond) & {*_CLAUSES, "min_should"}:
        return _filter(cond, depth + 1)
    if "key" in cond:
        return _field(cond)
    if len(cond) != 1:
        raise BadFilter(f"ambiguous condition with keys {sorted(cond)}")
    ((kind, arg),) = cond.items()
    build = _CONDITIONS.get(kind)
    if build is None:
        raise BadFilter(f"unsupported condition {kind!r}")
    return build(arg, depth)


def _field(cond: dict[str, Any]) -> qe.FieldCondition:
    key = _key(cond["key"])
    rest = {k: v for k, v in cond.items() if k != "key" and v is not None}
    if len(rest) != 1:
        raise BadFilter(f"condition on {key!r} needs exactly one of match/range/values_count")
    ((kind, arg),) = rest.items()
    if kind == "match":
        return qe.FieldCondition(key, match=_match(key, arg))
    if kind == "range":
        return qe.FieldCondition(key, range=_range(key, arg))
    if kind == "values_count":
        return qe.FieldCondition(key, values_count=qe.ValuesCount(**_bounds(key, arg, int)))
    if kind in _GEO:
        raise BadFilter(f"geo conditions are not supported (key {key!r})")
    raise BadFilter(f"unsupported field condition {kind!r} on {key!r}")


def _match(key: str, match: Any) -> Any:
    if not isinstance(match, dict) or len(match) != 1:
        raise BadFilter(f"match on {key!r} needs exactly one of {sorted(_MATCHES)}")
    ((kind, arg),) = match.items()
    build = _MATCHES.get(kind)
    if build is None:
        raise BadFilter(f"unsupported match {kind!r} on {key!r}")
    return build(arg)


def _range(key: str, rng: Any) -> qe.RangeFloat | qe.RangeDateTime:
    bounds = _bounds(key, rng, object)
    if all(isinstance(v, str) for v in bounds.values()):
        return qe.RangeDateTime(**bounds)  # ISO 8601 / RFC 3339; the binding parses them
    if all(_is_number(v) for v in bounds.values()):
        return qe.RangeFloat(**{k: float(v) for k, v in bounds.items()})
    raise BadFilter(f"range on {key!r} mixes numbers and datetimes or has other values")


def _bounds(key: str, rng: Any, kind: type) -> dict[str, Any]:
    if not isinstance(rng, dict) or not set(rng) <= _RANGE_KEYS:
        raise BadFilter(f"range on {key!r} takes only gt/gte/lt/lte")
    bounds = {k: v for k, v in rng.items() if v is not None}
    if not bounds:
        raise BadFilter(f"range on {key!r} needs at least one bound")
    if kind is int and not all(_is_int(v) for v in bounds.values()):
        raise BadFilter(f"values_count on {key!r} takes integers")
    return bounds


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise BadFilter("a condition key must be a non-empty string")
    return key


def _key_of(arg: Any) -> str:
    if not isinstance(arg, dict) or set(arg) != {"key"}:
        raise BadFilter("is_empty/is_null take {key: ...}")
    return _key(arg["key"])


def _value(value: Any) -> Any:
    if not isinstance(value, str | int):  # bool is an int
        raise BadFilter(f"match value must be a string, integer or boolean, got {value!r:.80}")
    # qdrant-edge-py 0.9.0 reads a Python bool as the integer 1/0 (which then never matches a
    # boolean payload); numpy's bool is not an int, so it arrives as a real boolean.
    return np.bool_(value) if isinstance(value, bool) else value


def _values(values: Any) -> list[str] | list[int]:
    if isinstance(values, list) and all(isinstance(v, str) for v in values):
        return values
    if isinstance(values, list) and all(_is_int(v) for v in values):
        return values
    raise BadFilter("match any/except takes a list of strings or a list of integers")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise BadFilter("text matches take a string")
    return value


def _ids(ids: Any) -> set[Any]:
    if not isinstance(ids, list):
        raise BadFilter("has_id takes a list of uuid strings")
    try:
        return {str(uuid.UUID(str(i))) for i in ids}
    except ValueError:
        raise BadFilter("has_id takes a list of uuid strings") from None


def _nested(arg: Any, depth: int) -> qe.NestedCondition:
    if not isinstance(arg, dict) or set(arg) != {"key", "filter"}:
        raise BadFilter("nested takes {key: ..., filter: {...}}")
    return qe.NestedCondition(_key(arg["key"]), _filter(arg["filter"], depth + 1))


_MATCHES: dict[str, Callable[[Any], Any]] = {
    "value": lambda v: qe.MatchValue(_value(v)),
    "any": lambda v: qe.MatchAny(_values(v)),
    "except": lambda v: qe.MatchExcept(_values(v)),
    "text": lambda v: qe.MatchText(_text(v)),
    "text_any": lambda v: qe.MatchTextAny(_text(v)),
    "phrase": lambda v: qe.MatchPhrase(_text(v)),
}

_CONDITIONS: dict[str, Callable[[Any, int], Any]] = {
    "is_empty": lambda arg, _: qe.IsEmptyCondition(_key_of(arg)),
    "is_null": lambda arg, _: qe.IsNullCondition(_key_of(arg)),
    "has_id": lambda arg, _: qe.HasIdCondition(_ids(arg)),
    "has_vector": lambda arg, _: qe.HasVectorCondition(_text(arg)),
    "nested": _nested,
}
