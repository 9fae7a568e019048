"""Qdrant filter JSON → qdrant_edge `Filter` objects, from the form `parse_filter` checked.

What the embedded engine cannot express (geo conditions, prefix and substring matches, slices)
is BadFilter here; everything malformed was already refused by `parse_filter`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import qdrant_edge as qe
from qdrant_client.http import models

from mmsearch.infra.errors import BadFilter
from mmsearch.infra.vectors.filters import CLAUSES, parse_filter
from mmsearch.infra.vectors.types import FilterJSON


def to_edge_filter(flt: FilterJSON | None) -> qe.Filter | None:
    """The qdrant_edge Filter for a Qdrant REST filter (None passes through); raise BadFilter."""
    parsed = parse_filter(flt)
    if parsed is None:
        return None
    try:
        return _filter(parsed)
    except (ValueError, TypeError, OverflowError) as exc:  # raised by the binding's constructors
        raise BadFilter(f"invalid filter: {exc}") from exc


def _filter(flt: models.Filter) -> qe.Filter:
    must, should, must_not = (_conditions(getattr(flt, clause)) for clause in CLAUSES)
    at_least = flt.min_should
    min_should = (
        None
        if at_least is None
        else qe.MinShould([_condition(c) for c in at_least.conditions], at_least.min_count)
    )
    return qe.Filter(must, should, must_not, min_should)


def _conditions(value: list[models.Condition] | models.Condition | None) -> list[Any] | None:
    if value is None:
        return None
    return [_condition(c) for c in (value if isinstance(value, list) else [value])]


def _condition(condition: models.Condition) -> Any:
    match condition:
        case models.Filter():
            return _filter(condition)
        case models.FieldCondition():
            return _field(condition)
        case models.IsEmptyCondition():
            return qe.IsEmptyCondition(condition.is_empty.key)
        case models.IsNullCondition():
            return qe.IsNullCondition(condition.is_null.key)
        case models.HasIdCondition():
            return qe.HasIdCondition({str(uuid.UUID(str(i))) for i in condition.has_id})
        case models.HasVectorCondition():
            return qe.HasVectorCondition(condition.has_vector)
        case models.NestedCondition():
            nested = condition.nested
            return qe.NestedCondition(nested.key, _filter(nested.filter))
    kind = condition.model_dump(exclude_none=True)
    raise BadFilter(f"the embedded engine does not support {sorted(kind)} conditions")


def _field(condition: models.FieldCondition) -> qe.FieldCondition:
    key = condition.key
    if condition.match is not None:
        return qe.FieldCondition(key, match=_match(key, condition.match))
    if isinstance(condition.range, models.DatetimeRange):
        # the RFC 3339 strings pydantic writes; the binding parses them
        bounds = condition.range.model_dump(mode="json", exclude_none=True)
        return qe.FieldCondition(key, range=qe.RangeDateTime(**bounds))
    if isinstance(condition.range, models.Range):
        return qe.FieldCondition(key, range=qe.RangeFloat(**_bounds(condition.range)))
    if condition.values_count is not None:
        count = qe.ValuesCount(**_bounds(condition.values_count))
        return qe.FieldCondition(key, values_count=count)
    if condition.is_empty is not None or condition.is_null is not None:
        return qe.FieldCondition(key, is_empty=condition.is_empty, is_null=condition.is_null)
    raise BadFilter(f"the embedded engine does not support geo conditions (key {key!r})")


def _bounds(bounds: models.Range | models.ValuesCount) -> dict[str, Any]:
    return bounds.model_dump(exclude_none=True)


def _match(key: str, test: models.Match) -> Any:
    if isinstance(test, models.MatchValue):
        # qdrant-edge-py 0.9.0 reads a Python bool as the integer 1/0 (which then never matches
        # a boolean payload); numpy's bool is not an int, so it arrives as a boolean.
        value = np.bool_(test.value) if isinstance(test.value, bool) else test.value
        return qe.MatchValue(value)  # type: ignore[arg-type]
    found = _MATCHES.get(type(test))
    if found is None:
        kind = sorted(test.model_dump(exclude_none=True, by_alias=True))
        raise BadFilter(f"the embedded engine does not support match {kind} (key {key!r})")
    field, build = found
    return build(getattr(test, field))


# the qdrant-client match → the field holding its argument and the qdrant_edge match
_MATCHES: dict[type, tuple[str, Callable[[Any], Any]]] = {
    models.MatchAny: ("any", qe.MatchAny),
    models.MatchExcept: ("except_", qe.MatchExcept),
    models.MatchText: ("text", qe.MatchText),
    models.MatchTextAny: ("text_any", qe.MatchTextAny),
    models.MatchPhrase: ("phrase", qe.MatchPhrase),
}
