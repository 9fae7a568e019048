"""A source's caption manifest: one file naming a caption for each object, read at each sync.

CSV with a header (a key column: `key`, `image`, `file`, `path` or `name`; a caption column:
`caption` or `text`), as Flickr8k's `captions.txt`, or JSON Lines with the same names. Keys are
below the source (`beach/001.jpg`) or bare file names; an object named more than once takes its
first caption.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

from mmsearch.infra.errors import ItemError, ItemErrorCode
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.uris import file_uri_below
from mmsearch.infra.sync.sources import Source

KEY_COLUMNS = ("key", "image", "file", "path", "name")
TEXT_COLUMNS = ("caption", "text")
MAX_CAPTION = 2000
MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # a manifest is read whole, once per sync


class Captions:
    """Captions by key, found by the key below the source or by its file name."""

    def __init__(self, by_key: Mapping[str, str]) -> None:
        self._by_key = by_key

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, key: str) -> str | None:
        found = self._by_key.get(key)
        return found if found is not None else self._by_key.get(posixpath.basename(key))


def manifest_uri(source: Source) -> str:
    """The manifest's reference: as given, or its key below the source."""
    assert source.captions is not None
    if "://" in source.captions:
        return source.captions
    if source.uri.startswith("file:"):
        return file_uri_below(source.uri, source.captions)
    return source.uri + source.captions


def load_captions(objects: ObjectStore, source: Source, limit: int) -> Captions:
    """The source's manifest, read whole (at most `limit` bytes); ItemError when it cannot be
    read or parsed."""
    ref = objects.parse(manifest_uri(source), tenant=source.tenant)
    data = objects.fetch(ref, limit=limit)
    try:
        text = data.decode("utf-8-sig")
        rows = _json_lines(text) if text.lstrip().startswith("{") else _csv_rows(text)
        return Captions(_first_captions(rows))
    except (UnicodeDecodeError, ValueError, csv.Error) as exc:
        message = f"caption manifest {ref.uri} is not CSV or JSON Lines: {exc}"
        raise ItemError(ItemErrorCode.INVALID_URI, message) from exc


def _json_lines(text: str) -> Iterable[Mapping[str, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"line {number} is not a JSON object")
            yield row


def _csv_rows(text: str) -> Iterable[Mapping[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().lower() for name in reader.fieldnames or []}
    if not columns & set(KEY_COLUMNS) or not columns & set(TEXT_COLUMNS):
        raise ValueError(f"its header needs one of {KEY_COLUMNS} and one of {TEXT_COLUMNS}")
    for row in reader:
        yield {str(k).strip().lower(): v for k, v in row.items() if k is not None}


def _first_captions(rows: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for row in rows:
        key = next((row[c] for c in KEY_COLUMNS if row.get(c)), None)
        text = next((row[c] for c in TEXT_COLUMNS if row.get(c)), None)
        if isinstance(key, str) and isinstance(text, str):
            found.setdefault(key.strip(), text.strip()[:MAX_CAPTION])
    return found
