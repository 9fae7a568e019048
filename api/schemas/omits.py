"""Responses that leave out what does not apply."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer


class OmitsUnset(BaseModel):
    """A response whose optional fields are left out when they do not apply (None), rather than
    sent as null; the OpenAPI document shows them as optional."""

    @model_serializer(mode="wrap")
    def _omit_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        optional = [
            name for name, field in type(self).model_fields.items() if not field.is_required()
        ]
        return {k: v for k, v in data.items() if not (k in optional and v is None)}
