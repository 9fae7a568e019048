"""User filters (Qdrant filter JSON over metadata fields) → checked payload filters.

The vector stores' checker (`parse_filter`) refuses a malformed filter; on top of it, a client
filters on its metadata fields only: every key must be a valid field name, conditions on point
ids or vectors are refused, and the filter nests at most MAX_DEPTH levels (leaving the stores
room for the tenant scope wrapped around it). Keys move under `metadata.`; inside `nested` they
are relative to the array element, so they are checked but not moved.
"""

from __future__ import annotations

from typing import Any

from qdrant_client.http import models

from mmsearch.infra.catalog.payload import check_field_name, metadata_key
from mmsearch.infra.errors import BadFilter
from mmsearch.infra.vectors.filters import clause_conditions, filters_within, parse_filter

__all__ = ["MAX_DEPTH", "metadata_key", "to_payload_filter"]

MAX_DEPTH = 8


def to_payload_filter(user_filter: dict[str, Any] | None) -> dict[str, Any] | None:
    """Validate a Qdrant-style filter and point its keys at metadata; raise BadFilter."""
    parsed = parse_filter(user_filter, max_depth=MAX_DEPTH)
    if parsed is None:
        return None
    for flt, _, relative in filters_within(parsed):
        for condition in clause_conditions(flt):
            _point_at_metadata(condition, relative)
    return parsed.model_dump(mode="json", exclude_none=True, by_alias=True)


def _point_at_metadata(condition: models.Condition, relative: bool) -> None:
    """Check the field a condition names and, outside nested filters, move it under metadata."""
    # the parsed filter is this call's own copy, so its keys are rewritten in place
    match condition:
        case models.Filter():
            pass  # its conditions come from filters_within
        case models.FieldCondition():
            condition.key = _key(condition.key, relative)
        case models.IsEmptyCondition(is_empty=field) | models.IsNullCondition(is_null=field):
            field.key = _key(field.key, relative)
        case models.NestedCondition():
            condition.nested.key = _key(condition.nested.key, relative)
        case _:
            kind = sorted(condition.model_dump(exclude_none=True))
            raise BadFilter(f"unsupported filter condition {kind}: filters test metadata fields")


def _key(name: str, relative: bool) -> str:
    return check_field_name(name) if relative else metadata_key(name)
