"""Vector stores: the contract, the embedded and Qdrant-server engines, and the factory."""

from __future__ import annotations

from qdrant_client import QdrantClient

from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors.base import VectorStore
from mmsearch.infra.vectors.edge.indexing import IndexSchedule
from mmsearch.infra.vectors.edge.store import EdgeVectorStore
from mmsearch.infra.vectors.qdrant.store import QdrantServerStore
from mmsearch.infra.vectors.types import (
    IMAGE_VECTOR,
    TEXT_VECTOR,
    VECTOR_NAMES,
    CollectionInfo,
    CollectionSpec,
    FieldType,
    FilterJSON,
    Hit,
    IndexConfig,
    VectorPoint,
)

__all__ = [
    "IMAGE_VECTOR",
    "TEXT_VECTOR",
    "VECTOR_NAMES",
    "CollectionInfo",
    "CollectionSpec",
    "EdgeVectorStore",
    "FieldType",
    "FilterJSON",
    "Hit",
    "IndexConfig",
    "QdrantServerStore",
    "VectorPoint",
    "VectorStore",
    "open_vector_store",
]


def open_vector_store(settings: Settings) -> VectorStore:
    """The Qdrant server at `qdrant_url` if set, else the embedded engine under data_dir."""
    if settings.qdrant_url:
        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return QdrantServerStore(QdrantClient(url=settings.qdrant_url, api_key=api_key))
    path = settings.embedded_qdrant_path
    path.mkdir(parents=True, exist_ok=True)
    schedule = IndexSchedule(settings.index_quiet_s, settings.index_max_defer_s)
    return EdgeVectorStore(path, schedule=schedule)
