"""The server's collections as the store sees them: names resolved through the server's aliases,
specs read from each collection's own metadata and cached, failures translated (see errors).

Each collection keeps its CollectionSpec in its ``metadata`` (under ``mmsearch``); collections
without it are not ours and are reported as not found. Each call resolves a name through the
server's alias list first (one more request), so a spec is cached under the collection's real
name.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from qdrant_client import QdrantClient, models

from mmsearch.infra.errors import AppError, BadFilter, CollectionNotFound, InvalidRequest
from mmsearch.infra.vectors.checks import check_collection_name, spec_from_json
from mmsearch.infra.vectors.qdrant.errors import qdrant_errors
from mmsearch.infra.vectors.qdrant.index import search_params
from mmsearch.infra.vectors.types import CollectionSpec, FilterJSON

METADATA_KEY = "mmsearch"


@dataclass(frozen=True)
class ServerCollection:
    """The collection a call is about: the name asked for (maybe an alias) and the spec of the
    collection it stands for, with the client that reaches it."""

    client: QdrantClient
    asked: str
    spec: CollectionSpec
    forget: Callable[[str], None]  # drops a cached spec

    @property
    def params(self) -> models.SearchParams:
        """The collection's search parameters."""
        return search_params(self.spec.index)

    def errors(self, bad_request: type[AppError] = InvalidRequest) -> AbstractContextManager[None]:
        """Translate failures of a request about this collection (see qdrant_errors)."""
        return qdrant_errors(self.asked, bad_request, self.forget)

    def filtering(self, filter: FilterJSON | None) -> AbstractContextManager[None]:
        """errors(), reporting a rejected request as BadFilter when it had a filter."""
        return self.errors(BadFilter if filter else InvalidRequest)


class ServerCollections:
    """The collections and aliases of a Qdrant server, each collection's spec cached per process."""

    def __init__(self, client: QdrantClient) -> None:
        self.client = client
        self._specs: dict[str, CollectionSpec] = {}
        self._lock = threading.Lock()

    def open(self, name: str) -> ServerCollection:
        """The collection `name` stands for, with its spec; raises CollectionNotFound."""
        return ServerCollection(self.client, name, self.spec(name), self.forget)

    def resolve(self, name: str) -> str:
        """The collection `name` stands for: itself, or the one it is an alias of."""
        check_collection_name(name)
        return self.aliases().get(name, name)

    def aliases(self) -> dict[str, str]:
        """Every alias on the server and the collection it points at."""
        with self.errors(""):
            found = self.client.get_aliases().aliases
        return {a.alias_name: a.collection_name for a in found}

    def names(self) -> list[str]:
        """The names of every collection on the server, ours or not, sorted."""
        with self.errors(""):
            return sorted(c.name for c in self.client.get_collections().collections)

    def spec(self, name: str, cached: bool = True) -> CollectionSpec:
        """The spec (from its metadata) of the collection `name` stands for; CollectionNotFound."""
        name = self.resolve(name)
        with self._lock:
            spec = self._specs.get(name) if cached else None
        if spec is not None:
            return spec
        with self.errors(name):
            if not self.client.collection_exists(name):
                raise CollectionNotFound(f"collection {name!r} not found")
            metadata = self.client.get_collection(name).config.metadata or {}
        if not isinstance(metadata.get(METADATA_KEY), dict):
            raise CollectionNotFound(f"collection {name!r} is not an mmsearch collection")
        spec = spec_from_json(metadata[METADATA_KEY])
        with self._lock:
            self._specs[name] = spec
        return spec

    def forget(self, name: str) -> None:
        """Drop the cached spec of collection `name`."""
        with self._lock:
            self._specs.pop(name, None)

    def errors(
        self, name: str, bad_request: type[AppError] = InvalidRequest
    ) -> AbstractContextManager[None]:
        """Translate failures of a request about collection `name` (see qdrant_errors)."""
        return qdrant_errors(name, bad_request, self.forget)
