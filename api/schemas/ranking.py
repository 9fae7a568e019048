"""Typed settings of ranking beyond one vector: a collection's keyword (BM25) index, a hybrid
query's weights, and re-ranking by an image-text matching model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):  # as resources.Strict, which imports this module
    model_config = ConfigDict(extra="forbid")


LANGUAGE = Field(
    default="english",
    min_length=2,
    max_length=40,
    description="the stemmer and stopwords: english, french, german, spanish, ...",
)
AVG_LEN = Field(
    default=16.0, ge=1.0, le=100_000.0, description="the text length, in words, BM25 expects"
)


class KeywordSettings(_Strict):
    """The keyword (BM25) index over each item's caption and its `text` metadata fields (also
    the body that gives an existing collection one)."""

    language: str = LANGUAGE
    avg_len: float = AVG_LEN


class KeywordPublic(BaseModel):
    """A collection's keyword index: what it covers, and whether it can be searched yet."""

    language: str
    avg_len: float
    fields: list[str] = Field(description="'text' (the caption) and the `text` metadata fields")
    ready: bool = Field(description="false while its backfill job fills it in")


class HybridWeights(_Strict):
    """The weight of each ranking a hybrid search fuses; 0 leaves one out."""

    image: float = Field(default=1.0, ge=0.0, le=100.0, description="query vs image vectors")
    text: float = Field(default=1.0, ge=0.0, le=100.0, description="query vs caption vectors")
    keyword: float = Field(default=1.0, ge=0.0, le=100.0, description="BM25 over the words")


MAX_RERANK = 200  # candidates a search may re-rank


class RerankSpec(_Strict):
    """Re-score the first `top_k` hits with an image-text matching model (its name among
    MMSEARCH_MODELS, such as itm:Salesforce/blip-itm-base-coco) and return them in that order."""

    model: str | None = Field(
        default=None, max_length=512, description="default: the collection's re-ranker"
    )
    top_k: int = Field(default=50, ge=1, le=MAX_RERANK, description="candidates re-scored")


class RerankDefault(_Strict):
    """A collection's re-ranker, applied to text searches that do not say otherwise."""

    model: str = Field(min_length=1, max_length=512)
    top_k: int = Field(default=50, ge=1, le=MAX_RERANK)
