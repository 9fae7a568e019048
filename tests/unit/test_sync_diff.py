"""What a listed object's version says about the item a collection holds for it."""

from __future__ import annotations

from mmsearch.infra.catalog.payload import ItemPayload, SourceStamp
from mmsearch.infra.sync.diff import RACY_NS, Change, compare
from mmsearch.infra.sync.listing import Listed

NOW = 10**18


def held(
    stamp: SourceStamp | None, uri: str = "s3://b/k.jpg", text: str | None = None
) -> ItemPayload:
    return ItemPayload(uri, "k.jpg", text=text, source=stamp)


def verdict(entry: Listed, stored: ItemPayload | None, **kw: object) -> Change:
    args = {"caption": None, "captioned": False, "hash_of": lambda e: "h1", "listed_ns": NOW}
    args.update(kw)
    return compare("src", entry, stored, live=lambda _: True, **args).change  # type: ignore[arg-type]


def test_s3_objects_change_with_their_etag_or_size() -> None:
    obj = Listed("k.jpg", "s3://b/k.jpg", 10, etag="e1")
    same = held(SourceStamp("src", "k.jpg", 10, etag="e1"))
    assert verdict(obj, None) == Change.ADDED
    assert verdict(obj, same) == Change.UNCHANGED
    assert verdict(obj, held(SourceStamp("src", "k.jpg", 10, etag="e2"))) == Change.UPDATED
    assert verdict(obj, held(SourceStamp("src", "k.jpg", 11, etag="e1"))) == Change.UPDATED
    assert verdict(obj, held(None)) == Change.UPDATED  # ingested by hand: taken over
    assert verdict(obj, held(SourceStamp("other", "k.jpg", 10, etag="e1"))) == Change.CONFLICT


def test_a_caption_manifest_changes_an_item() -> None:
    obj = Listed("k.jpg", "s3://b/k.jpg", 10, etag="e1")
    item = held(SourceStamp("src", "k.jpg", 10, etag="e1"), text="a dog")
    assert verdict(obj, item, caption="a dog", captioned=True) == Change.UNCHANGED
    assert verdict(obj, item, caption="a cat", captioned=True) == Change.UPDATED
    assert verdict(obj, item, caption=None, captioned=True) == Change.UPDATED  # caption gone
    assert verdict(obj, item, caption="a cat", captioned=False) == Change.UNCHANGED


def test_files_by_size_and_time_and_their_content_where_those_cannot_tell() -> None:
    old = NOW - 10 * RACY_NS
    obj = Listed("k.jpg", "file:///m/k.jpg", 10, mtime_ns=old, path="/m/k.jpg")
    settled = SourceStamp("src", "k.jpg", 10, mtime_ns=old, hash="h1", listed_ns=NOW)
    assert verdict(obj, held(settled, obj.uri)) == Change.UNCHANGED
    touched = Listed("k.jpg", obj.uri, 10, mtime_ns=old + 5, path="/m/k.jpg")
    assert verdict(touched, held(settled, obj.uri)) == Change.RESTAMPED
    assert verdict(touched, held(settled, obj.uri), hash_of=lambda e: "h2") == Change.UPDATED
    racy = SourceStamp("src", "k.jpg", 10, mtime_ns=old, hash="h1", listed_ns=old + RACY_NS // 2)
    assert verdict(obj, held(racy, obj.uri), hash_of=lambda e: "h2") == Change.UPDATED
    grown = Listed("k.jpg", obj.uri, 11, mtime_ns=old, path="/m/k.jpg")
    assert verdict(grown, held(settled, obj.uri)) == Change.UPDATED


def test_a_removed_sources_items_are_taken_over_where_they_name_the_object() -> None:
    obj = Listed("k.jpg", "s3://b/k.jpg", 10, etag="e1")
    orphan = SourceStamp("gone", "k.jpg", 10, etag="e1")
    args = {"caption": None, "captioned": False, "hash_of": lambda e: None, "listed_ns": NOW}
    same = compare("src", obj, held(orphan), live=lambda _: False, **args)  # type: ignore[arg-type]
    assert same.change == Change.RESTAMPED and same.stamp.id == "src"
    elsewhere = held(orphan, uri="s3://other/k.jpg")
    moved = compare("src", obj, elsewhere, live=lambda _: False, **args)  # type: ignore[arg-type]
    assert moved.change == Change.UPDATED
