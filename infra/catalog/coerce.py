"""Metadata values converted to the types a collection declares for its fields.

A CSV manifest, a form or a script may send `"14"` for a field declared `integer`; stored as a
string it would match no range filter, silently. Every value of a declared field is converted
to the declared type when that loses nothing, and refused (naming the field) when it would:

- `integer`: whole numbers (`14`, `14.0`, `"14"`, `" 014 "`, `"1e3"`) within 64 bits.
- `float`: finite numbers, and strings that spell one (`"2.5"`, `"-1e-3"`); an integer too
  large for a float to hold exactly is refused.
- `bool`: `true`/`false`, the strings `"true"`/`"false"` (any case) and `"1"`/`"0"`.
- `datetime`: ISO-8601 strings (a date alone is midnight; no offset is UTC), stored as
  `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` in UTC, a form both vector engines index.
- `keyword`, `text`: strings, and numbers as their JSON spelling (`14` → `"14"`).

A list converts element by element; `null` stays `null`; a boolean is never taken for a number,
nor a number for a boolean. Fields the collection does not declare are kept as given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from mmsearch.infra.errors import InvalidRequest
from mmsearch.infra.vectors.types import FieldType

# A plain decimal number, as a spreadsheet or CSV writes one (no `_`, `inf` or `nan`).
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_INT64 = (-(2**63), 2**63 - 1)
_TRUE, _FALSE = ("true", "1"), ("false", "0")


class MetadataTypeError(ValueError):
    """A metadata value that cannot be converted to its field's declared type without loss."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"metadata field {field!r}: {message}")
        self.field = field


class _Refused(ValueError):
    """Why one value cannot be converted (the field is named by the caller)."""


def _number(value: Any, kind: str) -> int | float | Decimal:
    """A JSON number as it is, or a string's number as an exact Decimal."""
    if isinstance(value, bool):
        raise _Refused(f"{value!r} is a boolean, not {kind}")
    if isinstance(value, int | float):
        return value
    if not isinstance(value, str):
        raise _Refused(f"{_kind(value)} is not {kind}")
    text = value.strip()
    if not _NUMBER.fullmatch(text):
        raise _Refused(f"{value!r} is not {kind}")
    return Decimal(text)


def _to_integer(value: Any) -> int:
    number = _number(value, "an integer")
    # isfinite first: int() of a Decimal such as 1e999999999 would build a huge number
    if not math.isfinite(number) or number != int(number):
        raise _Refused(f"{value!r} is not a whole number")
    whole = int(number)
    if not _INT64[0] <= whole <= _INT64[1]:
        raise _Refused(f"{value!r} does not fit in a 64-bit integer")
    return whole


def _to_float(value: Any) -> float:
    number = _number(value, "a number")
    try:
        converted = float(number)
    except OverflowError:
        converted = math.inf
    if isinstance(number, int) and math.isfinite(converted) and int(converted) != number:
        raise _Refused(f"{value!r} cannot be held exactly as a float")
    if not math.isfinite(converted):
        raise _Refused(f"{value!r} is out of a float's range")
    return converted


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise _Refused(f"{value!r} is not a boolean (true/false, 1/0)")


def _to_datetime(value: Any) -> str:
    if not isinstance(value, str):
        raise _Refused(f"{_kind(value)} is not an ISO-8601 date or time")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _Refused(f"{value!r} is not an ISO-8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{utc:%f}" if utc.microsecond else "") + "Z"


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise _Refused(f"{value!r} is not a finite number")
        return str(value)
    raise _Refused(f"{_kind(value)} is not a string")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list inside a list"
    return repr(value)


_CONVERTERS: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.INTEGER: _to_integer,
    FieldType.FLOAT: _to_float,
    FieldType.BOOL: _to_bool,
    FieldType.DATETIME: _to_datetime,
    FieldType.KEYWORD: _to_string,
    FieldType.TEXT: _to_string,
}


def coerce_value(kind: FieldType, value: Any) -> Any:
    """`value` as field type `kind` (each element of a list); ValueError when that loses data."""
    convert = _CONVERTERS[kind]
    if value is None:
        return None
    if isinstance(value, list):
        out = []
        for position, element in enumerate(value):
            try:
                out.append(None if element is None else convert(element))
            except _Refused as exc:
                raise _Refused(f"element {position}: {exc}") from None
        return out
    return convert(value)


def coerce_metadata(
    schema: Mapping[str, FieldType], metadata: dict[str, Any], *, strict: bool = True
) -> dict[str, Any]:
    """`metadata` with each field `schema` declares converted to its type (a new dict); raises
    MetadataTypeError naming the first field whose value cannot be converted without loss, or
    keeps that value as it is when not `strict`."""
    converted = dict(metadata)
    for name, kind in schema.items():
        if name in converted:
            try:
                converted[name] = coerce_value(kind, converted[name])
            except _Refused as exc:
                if strict:
                    raise MetadataTypeError(name, str(exc)) from None
    return converted


def typed_request_metadata(
    schema: Mapping[str, FieldType], metadata: dict[str, Any]
) -> dict[str, Any]:
    """`coerce_metadata` for metadata a request gives as a whole: InvalidRequest (422) naming
    the field whose value cannot be converted."""
    try:
        return coerce_metadata(schema, metadata)
    except MetadataTypeError as exc:
        field = f"metadata.{exc.field}"
        raise InvalidRequest(str(exc), details=[{"field": field, "message": str(exc)}]) from None
