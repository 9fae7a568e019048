"""Qdrant filters as JSON → qdrant-client's typed `Filter`, checked once for every vector store.

qdrant-client's models check a filter's shape (clauses, condition kinds, value types); the rules
here are those a Qdrant server enforces on top but the models let through: one test per field
condition, a bound on every range, a `min_should.min_count` of 1 or more, a slice within its
total, non-empty keys, uuid point ids and a bounded depth. Both stores take what `parse_filter`
returns, so a filter one store refuses as malformed the other refuses too, with the same
BadFilter.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError
from qdrant_client.http import models

from mmsearch.infra.errors import BadFilter
from mmsearch.infra.vectors.types import FilterJSON

__all__ = ["CLAUSES", "MAX_DEPTH", "clause_conditions", "filters_within", "parse_filter"]

CLAUSES = ("must", "should", "must_not")
MAX_DEPTH = 16
_TESTS = (
    "match",
    "range",
    "values_count",
    "is_empty",
    "is_null",
    "geo_bounding_box",
    "geo_radius",
    "geo_polygon",
)
_BOUNDED = ("range", "values_count")


def parse_filter(flt: FilterJSON | None, max_depth: int = MAX_DEPTH) -> models.Filter | None:
    """The checked qdrant-client Filter for a Qdrant JSON filter (None passes); raise BadFilter."""
    if flt is None:
        return None
    if not isinstance(flt, dict):
        raise BadFilter("a filter must be a JSON object with must/should/must_not/min_should")
    try:
        parsed = models.Filter.model_validate(flt)
    except ValidationError as exc:
        errors = [{"loc": _readable_loc(err["loc"]), "msg": err["msg"]} for err in exc.errors()[:5]]
        raise BadFilter("filter is not a valid Qdrant filter", details=errors) from exc
    for inner, depth, _ in filters_within(parsed):
        if depth > max_depth:
            raise BadFilter(f"filter nests deeper than {max_depth} levels")
        if inner.min_should is not None and inner.min_should.min_count < 1:
            raise BadFilter("min_should.min_count must be 1 or more")
        for condition in clause_conditions(inner):
            _check_condition(condition)
    return parsed


def clause_conditions(flt: models.Filter) -> list[models.Condition]:
    """The conditions directly under `flt`: its clauses' and its min_should's."""
    found: list[models.Condition] = []
    for clause in CLAUSES:
        value = getattr(flt, clause)
        if value is not None:
            found.extend(value if isinstance(value, list) else [value])
    if flt.min_should is not None:
        found.extend(flt.min_should.conditions)
    return found


def filters_within(
    flt: models.Filter, depth: int = 0, relative: bool = False
) -> Iterator[tuple[models.Filter, int, bool]]:
    """`flt` and every filter below it, with its depth and whether it is a nested filter's.

    A nested condition's filter (and all below it) names fields relative to the array element.
    """
    yield flt, depth, relative
    for condition in clause_conditions(flt):
        if isinstance(condition, models.Filter):
            yield from filters_within(condition, depth + 1, relative)
        elif isinstance(condition, models.NestedCondition):
            yield from filters_within(condition.nested.filter, depth + 1, True)


def _readable_loc(loc: tuple[Any, ...]) -> str:
    """Drop pydantic's union/type markers from an error location: must.0.match.value."""
    parts = [str(p) for p in loc if isinstance(p, int) or (p[:1].islower() and "[" not in p)]
    return ".".join(parts)


def _check_condition(condition: models.Condition) -> None:
    match condition:
        case models.FieldCondition():
            _check_field(condition)
        case models.IsEmptyCondition(is_empty=field) | models.IsNullCondition(is_null=field):
            _check_key(field.key)
        case models.NestedCondition():
            _check_key(condition.nested.key)
        case models.HasIdCondition():
            _check_ids(condition.has_id)
        case models.SliceCondition(slice=part) if not 0 <= part.index < part.total:
            raise BadFilter(f"slice index must be in [0, total), got {part.index} of {part.total}")


def _check_field(condition: models.FieldCondition) -> None:
    """Exactly one test (match, range, values_count...), a range with at least one bound."""
    _check_key(condition.key)
    tests = [name for name in _TESTS if getattr(condition, name) is not None]
    if len(tests) != 1:
        raise BadFilter(
            f"the condition on {condition.key!r} needs exactly one of match/range/values_count",
            details={"field": condition.key, "tests": tests},
        )
    bounds = getattr(condition, tests[0])
    if tests[0] in _BOUNDED and not bounds.model_dump(exclude_none=True):
        raise BadFilter(f"{tests[0]} on {condition.key!r} needs at least one bound")


def _check_key(key: str) -> None:
    if not key:
        raise BadFilter("a condition key must be a non-empty string")


def _check_ids(ids: list[models.ExtendedPointId]) -> None:
    """Point ids are uuids (the stores write no other ids)."""
    bad = [str(i)[:100] for i in ids if not isinstance(i, uuid.UUID) and not _is_uuid(i)]
    if bad:
        raise BadFilter("has_id takes a list of uuid strings", details={"ids": bad[:5]})


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
