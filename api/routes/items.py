"""Items of a collection: read, thumbnail, change metadata, delete, near-duplicate groups."""

from __future__ import annotations

from flask import Response

from mmsearch.api.routes import caller_tenant, parse, render, runtime
from mmsearch.api.schemas.queries import DuplicatesRequest, ItemPatch, ItemsDelete
from mmsearch.api.services import items as item_service
from mmsearch.api.services import thumbnails


def get_item(name: str, item_id: str) -> tuple[Response, int]:
    """One item: its reference, metadata, text and which vectors it has."""
    return render(item_service.get_item(runtime().vectors, name, item_id, caller_tenant()))


def thumbnail(name: str, item_id: str) -> Response:
    """An item's thumbnail as JPEG, cached privately by the browser for an hour."""
    rt = runtime()
    jpeg = thumbnails.thumbnail(
        rt.vectors, rt.objects, rt.settings.max_image_pixels, name, item_id, caller_tenant()
    )
    response = Response(jpeg, content_type="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def patch_item(name: str, item_id: str) -> tuple[Response, int]:
    """Change an item's metadata."""
    rt, body = runtime(), parse(ItemPatch)
    limits = rt.settings.metadata_limits
    patched = item_service.patch_item(
        rt.vectors, name, item_id, body, caller_tenant(), metadata_limits=limits
    )
    return render(patched)


def delete_item(name: str, item_id: str) -> tuple[Response, int]:
    """Delete one item."""
    return render(item_service.delete_item(runtime().vectors, name, item_id, caller_tenant()))


def delete_items(name: str) -> tuple[Response, int]:
    """Delete items by ids or by a metadata filter."""
    body = parse(ItemsDelete)
    return render(item_service.delete_items(runtime().vectors, name, body, caller_tenant()))


def duplicates(name: str) -> tuple[Response, int]:
    """Groups of near-duplicate items above a similarity threshold."""
    body = parse(DuplicatesRequest)
    return render(item_service.find_duplicates(runtime().vectors, name, body, caller_tenant()))
