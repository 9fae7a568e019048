"""How one listed object compares with the item a collection holds for it.

An S3 object is unchanged while its ETag and size are; a file while its size and modification
time are, unless that time was too close to when it was listed to tell a later write apart (as
git's racy index entries): then, and when only the time changed, its content hash decides. A
changed caption in the source's manifest changes the item too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from mmsearch.infra.catalog.payload import ItemPayload, SourceStamp
from mmsearch.infra.sync.listing import Listed

# A file modified within this long before it was listed may change again within the same
# timestamp (coarse file system clocks): its size and time alone do not prove it unchanged.
RACY_NS = 2_000_000_000


class Change(StrEnum):
    ADDED = "added"  # no item yet: ingest it
    UPDATED = "updated"  # the object changed: ingest it again under the same id
    UNCHANGED = "unchanged"  # nothing to do
    RESTAMPED = "restamped"  # unchanged content, a new file time: record the new stamp
    CONFLICT = "conflict"  # another source's item has this id


@dataclass(frozen=True)
class Verdict:
    change: Change
    stamp: SourceStamp  # the object's version as it is now
    owner: str | None = None  # CONFLICT: the source whose item it is


def compare(
    source_id: str,
    entry: Listed,
    stored: ItemPayload | None,
    caption: str | None,
    captioned: bool,
    hash_of: Callable[[Listed], str | None],
    listed_ns: int,
    live: Callable[[str], bool] = lambda _: True,
) -> Verdict:
    """The change `entry` makes to the item `stored` for it (None: no item); `captioned`:
    the source has a caption manifest, whose caption for it is `caption`. A file's content is
    hashed only where its size and time cannot decide (an item to ingest is hashed by the
    caller: a dry run need not read it). An item of another source is that source's while
    `live(its id)` says it exists; one of a removed source is taken over: compared as this
    source's, and restamped when unchanged."""
    stamp = SourceStamp(
        source_id, entry.key, entry.size, entry.etag, entry.mtime_ns, listed_ns=listed_ns
    )
    if stored is None or stored.source is None:  # new, or an item ingested by hand: taken over
        return Verdict(Change.ADDED if stored is None else Change.UPDATED, stamp)
    old = stored.source
    if old.id != source_id:
        if live(old.id):
            return Verdict(Change.CONFLICT, stamp, owner=old.id)
        verdict = _versions(old, entry, stored, stamp, caption, captioned, hash_of)
        if verdict.change in _SAME and stored.uri != entry.uri:
            return replace(verdict, change=Change.UPDATED)  # its uri names another object
        return replace(verdict, change=Change.RESTAMPED) if verdict.change in _SAME else verdict
    return _versions(old, entry, stored, stamp, caption, captioned, hash_of)


_SAME = (Change.UNCHANGED, Change.RESTAMPED)


def _versions(
    old: SourceStamp,
    entry: Listed,
    stored: ItemPayload,
    stamp: SourceStamp,
    caption: str | None,
    captioned: bool,
    hash_of: Callable[[Listed], str | None],
) -> Verdict:
    """UNCHANGED, RESTAMPED or UPDATED: the object against the version `old` recorded."""
    text_changed = captioned and caption != stored.text
    if entry.etag is not None:  # S3
        same = old.etag == entry.etag and old.size == entry.size
        return _verdict(same and not text_changed, stamp)
    if old.size != entry.size:
        return Verdict(Change.UPDATED, stamp)
    racy = old.listed_ns is None or (old.mtime_ns or 0) >= old.listed_ns - RACY_NS
    if old.mtime_ns == entry.mtime_ns and not racy:
        return _verdict(not text_changed, replace(stamp, hash=old.hash, listed_ns=old.listed_ns))
    stamp = replace(stamp, hash=hash_of(entry))
    if stamp.hash is None or stamp.hash != old.hash:
        return Verdict(Change.UPDATED, stamp)
    return Verdict(Change.UPDATED if text_changed else Change.RESTAMPED, stamp)


def _verdict(same: bool, stamp: SourceStamp) -> Verdict:
    return Verdict(Change.UNCHANGED if same else Change.UPDATED, stamp)
