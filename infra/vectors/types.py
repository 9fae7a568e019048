"""The vector stores' data types: collections, index settings, points and hits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

IMAGE_VECTOR = "image"
TEXT_VECTOR = "text"
VECTOR_NAMES = (IMAGE_VECTOR, TEXT_VECTOR)
KEYWORD_VECTOR = "keyword"  # the sparse BM25 vector of a collection with a KeywordConfig
COLLECTION_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

# A validated Qdrant filter as JSON (must/should/must_not, match/range...), keys are payload paths.
FilterJSON = dict[str, Any]


class FieldType(StrEnum):
    """Payload field types a collection may declare for indexing and filtering."""

    KEYWORD = "keyword"
    INTEGER = "integer"
    FLOAT = "float"
    BOOL = "bool"
    DATETIME = "datetime"
    TEXT = "text"


QUANTIZATIONS = (None, "int8")


@dataclass(frozen=True)
class IndexConfig:
    """How a collection's vectors are indexed and searched.

    The defaults reach recall@10 of 1.000 on 100k clustered 512-d vectors, filtered and not,
    at about half the latency of an exact scan (bench/recall.py):

    - `m`, `ef_construct`: HNSW graph degree and build breadth.
    - `hnsw_ef`: search breadth.
    - `quantization`: None, or "int8" (scalar int8 copies kept in RAM; searches walk them and
      rescore the 2x oversampled candidates with the original vectors).
    - `indexing_threshold`: points a segment holds before a graph is built for it; a smaller
      collection (or segment) is searched exactly. A filter that keeps fewer points than that
      is searched exactly too.
    """

    m: int = 32
    ef_construct: int = 256
    hnsw_ef: int = 512
    quantization: str | None = "int8"
    indexing_threshold: int = 10_000


@dataclass(frozen=True)
class ClusterConfig:
    """How a Qdrant cluster spreads a collection; None leaves the server's default (1 each).

    - `shard_number`: shards the points are split into (fixed at creation).
    - `replication_factor`: copies of each shard, on different nodes.
    - `write_consistency_factor`: replicas that must acknowledge a write before it returns.

    Only a server applies them: the embedded engine refuses anything but the defaults.
    """

    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None


SINGLE_NODE = ClusterConfig()


@dataclass(frozen=True)
class KeywordConfig:
    """A sparse BM25 vector ("keyword") over the words of some payload fields of each point.

    - `fields`: the payload paths whose strings (or arrays of strings) make up a point's text.
    - `language`: the stemmer and stopwords of qdrant-edge's Bm25 ("english", "french", ...).
    - `avg_len`: the text length, in tokens, BM25 normalises term frequencies by.
    - `ready`: False while a backfill fills in the vectors of points written before it.

    The store derives each point's vector from its payload when it is written (and again when
    a payload update touches one of the fields); the engine weighs terms by their IDF.
    """

    fields: tuple[str, ...]
    language: str = "english"
    avg_len: float = 16.0
    ready: bool = True


@dataclass(frozen=True)
class RerankConfig:
    """A collection's default re-ranker: a matching model's name, and how many hits it
    re-scores (see mmsearch.encoders.rerankers)."""

    model: str
    top_k: int = 50


# Collections created before index settings were stored: the engines' own defaults.
LEGACY_INDEX = IndexConfig(m=16, ef_construct=100, hnsw_ef=128, quantization=None)


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection is: its vectors' size and model, and its indexed payload fields.

    `payload_schema` keys are full payload paths (e.g. ``metadata.album``). A collection that is
    one version of a public name (an alias) records that name, its version number, and the name
    its point ids derive from (the one it was first created under, so a re-embedded item keeps
    its id); all three are None for a collection created on its own. `incarnation` is unique to
    this one creation (each version has its own), so a job bound to a collection never writes
    into another one later created under the same name; None for collections made before it.
    `cluster` is how a Qdrant cluster spreads it (see ClusterConfig). `keyword`: the sparse
    BM25 vector it keeps (None for a collection without one). `rerank`: the re-ranker text
    searches use unless they say otherwise (None: none).
    """

    name: str
    dim: int
    model: str
    payload_schema: dict[str, FieldType] = field(default_factory=dict)
    index: IndexConfig = field(default_factory=IndexConfig)
    public_name: str | None = None
    version: int | None = None
    id_namespace: str | None = None
    incarnation: str | None = None
    cluster: ClusterConfig = SINGLE_NODE
    keyword: KeywordConfig | None = None
    rerank: RerankConfig | None = None


@dataclass(frozen=True)
class CollectionInfo:
    spec: CollectionSpec
    count: int


@dataclass
class VectorPoint:
    """A point to write: uuid string id, named vectors (float32, L2-normalised), payload."""

    id: str
    vectors: dict[str, np.ndarray]
    payload: dict[str, Any]


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]


@dataclass(frozen=True)
class HitGroup:
    """The best hits sharing one value (`key`, a string or an integer) of a payload field."""

    key: Any
    hits: list[Hit]
