"""One page of a source's sync: its objects compared with the collection's items, into what to
ingest, what was seen unchanged, what to restamp and what to refuse."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from mmsearch.infra.catalog.payload import ItemPayload
from mmsearch.infra.catalog.points import item_point_id
from mmsearch.infra.errors import ItemErrorCode
from mmsearch.infra.jobs.store import ItemFailure
from mmsearch.infra.sync.captions import Captions
from mmsearch.infra.sync.diff import Change, compare
from mmsearch.infra.sync.listing import Listed
from mmsearch.infra.sync.sources import Source
from mmsearch.infra.vectors import CollectionSpec, VectorStore


@dataclass
class Compared:
    """A page's objects against the items held for them."""

    counts: Counter[str] = field(default_factory=Counter)
    seen: dict[str, ItemPayload] = field(default_factory=dict)  # by point id: items it saw
    restamped: dict[str, dict[str, Any]] = field(default_factory=dict)  # by point id: stamps
    ingest: list[dict[str, Any]] = field(default_factory=list)  # items to send, as sent
    refused: list[ItemFailure] = field(default_factory=list)


@dataclass(frozen=True)
class PageInput:
    """What comparing a page needs besides its objects."""

    source: Source
    spec: CollectionSpec
    collection: str  # the physical collection read
    sync: str  # the sync's job id
    listed_ns: int
    captions: Captions | None
    dry_run: bool
    hash_of: Callable[[Listed], str | None]
    is_live: Callable[[str], bool]  # whether a source of that id exists


def compare_page(vectors: VectorStore, page: PageInput, found: list[Listed]) -> Compared:
    """Compare a page of listed objects with the items the collection holds for them."""
    source = page.source
    ids = [item_point_id(page.spec, source.item_id(e.key), source.tenant) for e in found]
    stored = {
        point.id: ItemPayload.from_payload(point.payload, point.id)
        for point in (vectors.retrieve(page.collection, ids) if ids else [])
    }
    others = {i.source.id for i in stored.values() if i.source and i.source.id != source.id}
    live = {other for other in others if page.is_live(other)}
    out = Compared()
    for entry, point_id in zip(found, ids, strict=True):
        item = stored.get(point_id)
        caption = page.captions.get(entry.key) if page.captions is not None else None
        verdict = compare(
            source.id,
            entry,
            item,
            caption,
            page.captions is not None,
            page.hash_of,
            page.listed_ns,
            live.__contains__,
        )
        item_id = source.item_id(entry.key)
        if verdict.change == Change.CONFLICT:
            message = f"item {item_id!r} is already synced from source {verdict.owner}"
            out.refused.append(ItemFailure(entry.uri, item_id, ItemErrorCode.ID_CONFLICT, message))
            continue
        if item is not None:
            out.seen[point_id] = item
            if item.source is not None and item.source.id == source.id:
                out.counts["matched"] += 1  # of the source's items: those not gone
        if verdict.change == Change.RESTAMPED:
            out.restamped[point_id] = verdict.stamp.to_payload()
        if verdict.change not in (Change.ADDED, Change.UPDATED):
            out.counts[str(Change.UNCHANGED)] += 1
            continue
        out.counts[str(verdict.change)] += 1
        if page.dry_run:
            continue
        stamp = verdict.stamp
        if stamp.hash is None and entry.path is not None:
            stamp = replace(stamp, hash=page.hash_of(entry))
        out.ingest.append(
            {
                "uri": entry.uri,
                "id": item_id,
                # edits made to the item stay (not to an item of another object taken over)
                "metadata": item.metadata if item is not None and item.uri == entry.uri else {},
                "text": caption,
                "source": stamp.to_payload(),
                "sync": page.sync,
            }
        )
    return out
