"""Aliases of the embedded store: alias → collection, kept in ``<store>/aliases.json``.

The file is replaced atomically (written and fsynced under a temporary name, renamed over the
old one, the folder fsynced), so a crash leaves either the old or the new aliases.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from mmsearch.infra.errors import CollectionNotFound, Conflict
from mmsearch.infra.vectors.base import COLLECTION_NAME_RE
from mmsearch.infra.vectors.checks import check_collection_name
from mmsearch.infra.vectors.edge_files import fsync_dir, write_json

if TYPE_CHECKING:
    from mmsearch.infra.vectors.edge import _Collection

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


class EdgeAliases:
    """set_alias, delete_alias, list_aliases and alias resolution (a mixin of EdgeVectorStore).

    `_aliases` is replaced, never changed in place, and read or replaced under `_lock`.
    """

    _aliases: dict[str, str]

    if TYPE_CHECKING:
        path: Path
        _lock: threading.Lock
        _collections: dict[str, _Collection]

        def _check_open(self) -> None: ...

    def set_alias(self, alias: str, collection: str) -> None:
        """Create `alias`, or atomically re-point it; Conflict if a collection has that name."""
        check_collection_name(alias)
        check_collection_name(collection)
        with self._lock:
            self._check_open()
            if alias in self._collections:
                raise Conflict(f"{alias!r} is a collection, it cannot be an alias")
            target = self._resolve(collection)
            if target not in self._collections:
                raise CollectionNotFound(f"collection {collection!r} not found")
            if self._aliases.get(alias) != target:
                self._save({**self._aliases, alias: target})
        logger.info("alias %s → collection %s", alias, target)

    def delete_alias(self, alias: str) -> None:
        """Remove an alias; raises CollectionNotFound if there is none by that name."""
        check_collection_name(alias)
        with self._lock:
            self._check_open()
            if alias not in self._aliases:
                raise CollectionNotFound(f"alias {alias!r} not found", details={"alias": alias})
            self._save({k: v for k, v in self._aliases.items() if k != alias})
        logger.info("deleted alias %s", alias)

    def list_aliases(self) -> dict[str, str]:
        """Every alias and the collection it points at, sorted by alias."""
        with self._lock:
            self._check_open()
            return dict(sorted(self._aliases.items()))

    def _resolve(self, name: str) -> str:
        """The collection `name` stands for (itself unless it is an alias); call under _lock."""
        return self._aliases.get(name, name)

    def _drop_aliases_of(self, collection: str) -> None:
        """Forget the aliases of a collection about to be deleted; call under _lock."""
        kept = {k: v for k, v in self._aliases.items() if v != collection}
        if len(kept) != len(self._aliases):
            self._save(kept)

    def _save(self, aliases: dict[str, str]) -> None:
        save_aliases(self.path, aliases)
        self._aliases = aliases
