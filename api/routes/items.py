"""Items of a collection: read, thumbnail, change metadata, delete, near-duplicate groups."""

from __future__ import annotations

from flask import Response, current_app, request

from mmsearch.api.routes import caller_tenant, parse, render, runtime
from mmsearch.api.schemas.queries import (
    DuplicatesRequest,
    ItemPatch,
    ItemsDelete,
    MediaLink,
    MediaLinkRequest,
    ThumbnailQuery,
)
from mmsearch.api.services import items as item_service
from mmsearch.api.services import media as media_service
from mmsearch.api.services import thumbnails
from mmsearch.infra.media.video_items import VideoPolicy


def get_item(name: str, item_id: str) -> tuple[Response, int]:
    """One item: its reference, metadata, text and which vectors it has."""
    return render(item_service.get_item(runtime().vectors, name, item_id, caller_tenant()))


def thumbnail(name: str, item_id: str) -> Response:
    """An item's thumbnail as JPEG (a video's frame at `?t=` seconds), cached privately by the
    browser for an hour."""
    rt = runtime()
    at = ThumbnailQuery.model_validate(request.args.to_dict()).t
    policy = VideoPolicy.from_settings(rt.settings)
    jpeg = thumbnails.thumbnail(rt.vectors, rt.objects, policy, name, item_id, caller_tenant(), at)
    response = Response(jpeg, content_type="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def media(name: str, item_id: str) -> Response:
    """An item's media file (a video to play), whole or the byte range asked."""
    rt = runtime()
    limit = rt.settings.max_video_bytes
    return media_service.serve_media(rt.vectors, rt.objects, name, item_id, caller_tenant(), limit)


def media_link(name: str) -> tuple[Response, int]:
    """A signed link to an item's media file, for players that send no key."""
    rt, body = runtime(), parse(MediaLinkRequest)
    tenant = caller_tenant()
    spec = rt.vectors.spec(name)
    item_service.find_point(rt.vectors, spec, body.id, tenant)  # 404 for another tenant's
    signer: media_service.LinkSigner = current_app.extensions[media_service.MEDIA_LINKS_EXTENSION]
    url, expires = signer.link(name, body.id, tenant)
    return render(MediaLink(url=url, expires_at=expires))


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
