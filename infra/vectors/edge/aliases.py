"""Aliases of the embedded store: alias → collection, kept in ``<store>/aliases.json``.

The file is replaced atomically (written and fsynced under a temporary name, renamed over the
old one, the folder fsynced), so a crash leaves either the old or the new aliases.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection
from pathlib import Path

from mmsearch.infra.vectors.edge.files import fsync_dir, write_json
from mmsearch.infra.vectors.types import COLLECTION_NAME_RE

logger = logging.getLogger(__name__)

ALIAS_FILE = "aliases.json"
_TMP_SUFFIX = ".tmp"


def load_aliases(folder: Path, collections: Collection[str]) -> dict[str, str]:
    """The stored aliases, less those whose collection is gone or whose name is taken."""
    path = folder / ALIAS_FILE
    tmp = path.with_name(path.name + _TMP_SUFFIX)
    tmp.unlink(missing_ok=True)  # an interrupted save
    if not path.is_file():
        return {}
    data = json.loads(path.read_text("utf-8"))
    aliases: dict[str, str] = {}
    for alias, target in dict(data.get("aliases") or {}).items():
        valid = isinstance(alias, str) and COLLECTION_NAME_RE.match(alias) is not None
        if valid and alias not in collections and target in collections:
            aliases[alias] = str(target)
        else:
            logger.warning("dropping alias %r → %r: no such collection, or a clash", alias, target)
    return aliases


def save_aliases(folder: Path, aliases: dict[str, str]) -> None:
    """Replace the stored aliases atomically and durably."""
    path = folder / ALIAS_FILE
    tmp = path.with_name(path.name + _TMP_SUFFIX)
    write_json(tmp, {"aliases": dict(sorted(aliases.items()))})
    os.replace(tmp, path)
    fsync_dir(folder)


class Aliases:
    """The aliases of one store folder, saved on every change; the store calls it under its lock.

    The table is replaced, never changed in place, and only once it is saved.
    """

    def __init__(self, folder: Path, collections: Collection[str]) -> None:
        self.folder = folder
        self._table = load_aliases(folder, collections)

    def __contains__(self, alias: str) -> bool:
        return alias in self._table

    def resolve(self, name: str) -> str:
        """The collection `name` stands for: itself, unless it is an alias."""
        return self._table.get(name, name)

    def as_dict(self) -> dict[str, str]:
        """Every alias and its collection, sorted by alias."""
        return dict(sorted(self._table.items()))

    def set(self, alias: str, collection: str) -> None:
        """Point `alias` at `collection`."""
        if self._table.get(alias) != collection:
            self._save({**self._table, alias: collection})

    def delete(self, alias: str) -> None:
        """Forget `alias`."""
        self._save({k: v for k, v in self._table.items() if k != alias})

    def drop_targets(self, collection: str) -> None:
        """Forget the aliases of `collection` (about to be deleted)."""
        kept = {k: v for k, v in self._table.items() if v != collection}
        if len(kept) != len(self._table):
            self._save(kept)

    def _save(self, table: dict[str, str]) -> None:
        save_aliases(self.folder, table)
        self._table = table
