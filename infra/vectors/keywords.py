"""The keyword (BM25) vectors both engines store: a point's text, its document vector, a query's.

Vectors come from qdrant-edge's Bm25 model (the tokenizer, stemmer, stopwords and token hashes
of a Qdrant server's own BM25), so one collection's vectors mean the same on either engine.
A document's vector holds each term's BM25 term-frequency weight; a query's, weight 1 for each
of its terms. The engine multiplies in each term's IDF over the collection when it searches,
so a point's score is Σ over the query's terms of IDF(term) · tf-weight(term, point), where

    IDF(t) = ln(1 + (N − n(t) + 0.5) / (n(t) + 0.5))     (N: points with a term, n(t): with t)
    tf-weight(t, p) = tf · (k + 1) / (tf + k · (1 − b + b · len / avg_len))    (k 1.2, b 0.75)

with tf the count of t in the point's text and len its count of terms (after stemming and
stopwords).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import qdrant_edge as qe

from mmsearch.infra.errors import InvalidRequest
from mmsearch.infra.vectors.arguments import payload_path
from mmsearch.infra.vectors.types import CollectionSpec, KeywordConfig

MAX_TEXT_CHARS = 100_000  # of a point's text: the rest is not indexed


@dataclass(frozen=True)
class Sparse:
    """A sparse vector: term ids and their weights (empty for a text without terms)."""

    indices: list[int]
    values: list[float]


@lru_cache(maxsize=16)
def _model(language: str, avg_len: float) -> qe.Bm25:
    return qe.Bm25(qe.Bm25Config(avg_len=avg_len, language=language))


def check_keyword(config: KeywordConfig) -> KeywordConfig:
    """Validate a keyword config (language known, fields given, avg_len > 0); InvalidRequest."""
    if not config.fields or not all(isinstance(f, str) and f for f in config.fields):
        raise InvalidRequest("keyword.fields must name at least one payload path")
    if not 1.0 <= config.avg_len <= 100_000.0:
        raise InvalidRequest("keyword.avg_len must be between 1 and 100000")
    try:
        _model(config.language, config.avg_len)
    except ValueError as exc:
        raise InvalidRequest(f"keyword.language: {exc}", code="unknown_language") from None
    return config


def point_text(payload: dict[str, Any], fields: Iterable[str]) -> str:
    """The text of a point: the strings at each field's path, one per line."""
    lines: list[str] = []
    for field in fields:
        lines.extend(_strings(payload, payload_path(field) or []))
    return "\n".join(lines)[:MAX_TEXT_CHARS]


def document_vector(config: KeywordConfig, payload: dict[str, Any]) -> Sparse:
    """The keyword vector a point with this payload is stored with."""
    text = point_text(payload, config.fields)
    return _sparse(_model(config.language, config.avg_len).embed_document(text))


def keyword_vector(spec: CollectionSpec, payload: dict[str, Any]) -> Sparse | None:
    """The keyword vector a point is written with: None where the collection has no keyword
    index, or the point's text no terms once the index is ready (so that N, the points IDF
    counts, holds only those with terms, alike on both engines). While a backfill runs, such a
    point gets an empty vector instead, which marks it done (the backfill writes the same)."""
    if spec.keyword is None:
        return None
    words = document_vector(spec.keyword, payload)
    return words if words.indices or not spec.keyword.ready else None


def query_vector(config: KeywordConfig, text: str) -> Sparse:
    """The keyword vector of a query: each of its terms once, weight 1."""
    return _sparse(_model(config.language, config.avg_len).embed_query(text[:MAX_TEXT_CHARS]))


def refreshed_by(config: KeywordConfig | None, keys: Iterable[str]) -> bool:
    """Whether setting these top-level payload keys changes a point's keyword text."""
    if config is None:
        return False
    tops = {(payload_path(f) or [("", None)])[0][0] for f in config.fields}
    return any(key in tops for key in keys)


def _sparse(vector: qe.SparseVector) -> Sparse:
    return Sparse([int(i) for i in vector.indices], [float(v) for v in vector.values])


def _strings(data: Any, path: list[tuple[str, str | None]]) -> list[str]:
    """The strings at a parsed payload path (arrays are walked: `a[].b` and `a.b` alike)."""
    if not path:
        values = data if isinstance(data, list) else [data]
        return [v for v in values if isinstance(v, str)]
    (key, _), rest = path[0], path[1:]
    if isinstance(data, list):
        return [s for item in data for s in _strings(item, path)]
    if not isinstance(data, dict) or key not in data:
        return []
    return _strings(data[key], rest)
