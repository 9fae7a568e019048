"""Typed bodies of the retrieval endpoints: search, fan-out, classify, items, duplicates."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from mmsearch.api.schemas.omits import OmitsUnset
from mmsearch.api.schemas.ranking import HybridWeights, RerankSpec
from mmsearch.api.schemas.resources import (
    MAX_TEXT,
    BoundedMetadata,
    CollectionName,
    FieldName,
    Strict,
)

ItemId = Annotated[str, Field(min_length=1, max_length=512)]
QueryText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class SearchMode(StrEnum):
    IMAGE = "image"  # query against image embeddings
    TEXT = "text"  # query against caption embeddings
    HYBRID = "hybrid"  # reciprocal rank fusion of both, and of keyword for a text query
    KEYWORD = "keyword"  # BM25 over the words of captions and `text` metadata fields


class ImageRef(Strict):
    """An image given by reference, inline as base64, or as a multipart file part."""

    uri: str | None = Field(default=None, max_length=2048)
    base64: str | None = None
    upload: str | None = Field(default=None, max_length=200, description="multipart part name")

    @model_validator(mode="after")
    def _one_source(self) -> ImageRef:
        if sum(v is not None for v in (self.uri, self.base64, self.upload)) != 1:
            raise ValueError("give exactly one of 'uri', 'base64' or 'upload'")
        return self


class QueryPart(Strict):
    """One weighted term of a multimodal query; a negative weight steers away."""

    text: QueryText | None = None
    image: ImageRef | None = None
    item_id: ItemId | None = None
    weight: float = Field(default=1.0, ge=-100.0, le=100.0)

    @model_validator(mode="after")
    def _one_term(self) -> QueryPart:
        if sum(v is not None for v in (self.text, self.image, self.item_id)) != 1:
            raise ValueError("each query part needs exactly one of 'text', 'image', 'item_id'")
        if self.weight == 0:
            raise ValueError("weight must not be 0")
        return self


class RecommendSpec(Strict):
    positive: list[ItemId] = Field(min_length=1, max_length=64)
    negative: list[ItemId] = Field(default_factory=list, max_length=64)


class QueryFields(Strict):
    """What to look for: exactly one of these."""

    text: QueryText | None = None
    image: ImageRef | None = None
    item_id: ItemId | None = None
    query: list[QueryPart] | None = Field(default=None, min_length=1, max_length=16)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("text must not be blank")
        return value

    def query_kinds(self) -> list[str]:
        return [k for k in ("text", "image", "item_id", "query") if getattr(self, k) is not None]


MAX_GROUP_DEPTH = 10_000  # groups a grouped page may reach (offset + limit)


class Paging(Strict):
    filter: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=100_000)
    score_threshold: float | None = Field(default=None, ge=-1.0, le=1.0)


def check_mode(mode: SearchMode, body: QueryFields, score_threshold: float | None) -> None:
    """What a mode other than image or text asks of the query; raise ValueError."""
    if mode == SearchMode.KEYWORD and body.text is None:
        raise ValueError("mode 'keyword' searches words: give the query as 'text'")
    if mode in (SearchMode.HYBRID, SearchMode.KEYWORD) and score_threshold is not None:
        raise ValueError(f"score_threshold is a cosine bound; mode {mode.value!r} scores otherwise")


class SearchRequest(QueryFields, Paging):
    recommend: RecommendSpec | None = None
    mode: SearchMode = SearchMode.IMAGE
    group_by: FieldName | None = None
    group_size: int = Field(default=1, ge=1, le=100)
    weights: HybridWeights | None = Field(
        default=None, description="mode hybrid: each ranking's weight in the fusion"
    )
    rerank: RerankSpec | Literal[False] | None = Field(
        default=None,
        description="re-score the first top_k hits with an image-text matching model; default: "
        "the collection's re-ranker for a text query; false: none",
    )

    @model_validator(mode="after")
    def _one_query(self) -> SearchRequest:
        kinds = self.query_kinds() + (["recommend"] if self.recommend else [])
        if len(kinds) != 1:
            raise ValueError(
                "give exactly one of 'text', 'image', 'item_id', 'query' or 'recommend'"
            )
        fused = self.mode in (SearchMode.HYBRID, SearchMode.KEYWORD)
        if fused and (self.group_by or self.recommend):
            mode = self.mode.value
            raise ValueError(f"mode {mode!r} does not combine with group_by or recommend")
        check_mode(self.mode, self, self.score_threshold)
        if self.weights is not None and self.mode != SearchMode.HYBRID:
            raise ValueError("weights apply to mode 'hybrid'")
        if self.rerank and (self.text is None or self.group_by or self.recommend):
            raise ValueError("rerank matches a 'text' query against images (not with group_by)")
        if self.group_by and self.offset + self.limit > MAX_GROUP_DEPTH:
            raise ValueError(f"with group_by, offset + limit must not exceed {MAX_GROUP_DEPTH}")
        return self


class FanoutSearchRequest(QueryFields, Paging):
    collections: list[CollectionName] = Field(min_length=1, max_length=32)
    mode: SearchMode = SearchMode.IMAGE

    @model_validator(mode="after")
    def _one_query(self) -> FanoutSearchRequest:
        if len(self.query_kinds()) != 1 or self.item_id is not None:
            raise ValueError("give exactly one of 'text', 'image' or 'query'")
        if any(part.item_id for part in self.query or []):
            raise ValueError("item_id terms name one collection; not available across several")
        if len(set(self.collections)) != len(self.collections):
            raise ValueError("collections must be distinct")
        check_mode(self.mode, self, self.score_threshold)
        return self


class VideoAt(BaseModel):
    """Where a hit that is a video frame sits: the video item, seconds from its start."""

    id: str
    t: float


class SourceOf(BaseModel):
    """The source an item is synced from, and the object's key below it."""

    id: str
    key: str


class VideoSummary(BaseModel):
    """A video item: how many frames of it are indexed, and how long it runs."""

    frames: int
    duration_s: float


class SearchHit(OmitsUnset):
    id: str
    uri: str
    score: float
    metadata: dict[str, Any]
    text: str | None = None
    collection: str | None = None
    video: VideoAt | None = Field(default=None, description="set on a frame of a video")
    source: SourceOf | None = Field(default=None, description="set on an item of a source")
    rerank_score: float | None = Field(
        default=None, description="the re-ranker's match score, where the hit was re-ranked"
    )


class SearchGroup(BaseModel):
    key: Any
    results: list[SearchHit]


class SearchResponse(OmitsUnset):
    results: list[SearchHit] = Field(default_factory=list)
    groups: list[SearchGroup] | None = None
    took_ms: float


class ClassifyRequest(Strict):
    collection: CollectionName | None = None
    model: str | None = Field(default=None, max_length=512)
    image: ImageRef
    labels: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=1000
    )
    prompt_template: str = Field(default="a photo of {}", max_length=500)

    @model_validator(mode="after")
    def _check(self) -> ClassifyRequest:
        if self.collection is not None and self.model is not None:
            raise ValueError("give 'collection' or 'model', not both")
        if "{}" not in self.prompt_template:
            raise ValueError("prompt_template must contain {} where the label goes")
        return self


class LabelScore(BaseModel):
    label: str
    probability: float


class ClassifyResponse(BaseModel):
    model: str
    labels: list[LabelScore]


class ItemPublic(BaseModel):
    id: str
    uri: str
    metadata: dict[str, Any]
    text: str | None = None
    vectors: list[str] = Field(description="named vectors the item has (image, text)")
    video: VideoSummary | None = Field(default=None, description="set on a video item")
    source: SourceOf | None = Field(default=None, description="set on an item of a source")


class MediaLinkRequest(Strict):
    id: ItemId = Field(description="the item whose media file to link to")


class MediaLink(BaseModel):
    url: str = Field(description="a path on this API that serves the file without a key")
    expires_at: int = Field(description="unix seconds after which it stops working")


class ThumbnailQuery(Strict):
    """The query string of a thumbnail: which moment of a video (seconds from its start)."""

    t: float | None = Field(default=None, ge=0.0, le=1e7)


class ItemPatch(Strict):
    metadata: BoundedMetadata
    replace: bool = Field(default=False, description="replace all metadata instead of merging")


class ItemsDelete(Strict):
    """Which items to delete: by ids, by a non-empty filter, or every one with `all: true`."""

    ids: list[ItemId] | None = Field(default=None, min_length=1, max_length=10_000)
    filter: dict[str, Any] | None = Field(
        default=None, min_length=1, description="must not be empty; `all: true` deletes every item"
    )
    all: Literal[True] | None = Field(default=None, description="delete every item")

    @model_validator(mode="after")
    def _one(self) -> ItemsDelete:
        if sum(v is not None for v in (self.ids, self.filter, self.all)) != 1:
            raise ValueError("give exactly one of 'ids', 'filter' or 'all': true")
        return self


class Deleted(BaseModel):
    deleted: int


class DuplicatesRequest(Strict):
    threshold: float = Field(default=0.95, ge=0.0, le=1.0)
    max_group_size: int = Field(default=50, ge=2, le=1000)
    filter: dict[str, Any] | None = None


class DuplicateItem(BaseModel):
    id: str
    uri: str
    score: float = Field(description="similarity to the closest other item of the group")


class DuplicateGroup(BaseModel):
    items: list[DuplicateItem]


class DuplicatesResponse(BaseModel):
    groups: list[DuplicateGroup]
    scanned: int
