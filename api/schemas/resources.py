"""Typed request and response bodies; separate input and output types per resource."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict

from mmsearch.api.schemas.omits import OmitsUnset
from mmsearch.api.schemas.ranking import KeywordPublic as KeywordPublic
from mmsearch.api.schemas.ranking import KeywordSettings as KeywordSettings
from mmsearch.api.schemas.ranking import RerankDefault
from mmsearch.infra.catalog.metadata import MetadataLimits, metadata_problem
from mmsearch.infra.errors import ItemErrorCode
from mmsearch.infra.jobs.store import JobStatus
from mmsearch.infra.vectors import FieldType, IndexConfig
from mmsearch.infra.vectors.types import ClusterConfig


def _no_version_suffix(name: str) -> str:
    if "--" in name:
        raise ValueError("'--' is reserved for collection versions")
    return name


CollectionName = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,55}$"), AfterValidator(_no_version_suffix)
]
FieldName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,127}$")]
MAX_TEXT = 4096
# The validation context key of the MetadataLimits a request's metadata is checked against.
METADATA_LIMITS = "metadata_limits"


def _bounded(metadata: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    limits = (info.context or {}).get(METADATA_LIMITS) or MetadataLimits()
    problem = metadata_problem(metadata, limits)
    if problem is not None:
        raise ValueError(problem)
    return metadata


Metadata = Annotated[dict[FieldName, Any], Field(max_length=256)]
BoundedMetadata = Annotated[Metadata, AfterValidator(_bounded)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_INDEX = IndexConfig()


class IndexSettings(Strict):
    """How a collection's vectors are indexed; the defaults reach recall@10 ≥ 0.99 on 100k+."""

    m: int = Field(default=_INDEX.m, ge=4, le=128, description="HNSW graph degree")
    ef_construct: int = Field(
        default=_INDEX.ef_construct, ge=4, le=4096, description="HNSW build breadth"
    )
    hnsw_ef: int = Field(default=_INDEX.hnsw_ef, ge=1, le=4096, description="HNSW search breadth")
    quantization: Literal["int8"] | None = Field(
        default="int8",
        description="int8: scalar-quantized copies in RAM, candidates rescored exactly; null: off",
    )
    indexing_threshold: int = Field(
        default=_INDEX.indexing_threshold,
        ge=0,
        le=100_000_000,
        description="segments (and filtered subsets) with fewer points are searched exactly",
    )

    def config(self) -> IndexConfig:
        return IndexConfig(**self.model_dump())

    @classmethod
    def of(cls, config: IndexConfig) -> IndexSettings:
        return cls(**asdict(config))


def _cluster_field(description: str) -> Any:
    return Field(default=None, ge=1, le=1000, description=f"{description}; null: the server's 1")


class ClusterSettings(Strict):
    """How a Qdrant cluster spreads a collection; the embedded engine refuses anything but nulls
    (422 not_applicable)."""

    shard_number: int | None = _cluster_field("shards the points are split into")
    replication_factor: int | None = _cluster_field("copies of each shard, on different nodes")
    write_consistency_factor: int | None = _cluster_field(
        "replicas that acknowledge a write before it returns (at most replication_factor)"
    )

    def config(self) -> ClusterConfig:
        return ClusterConfig(**self.model_dump())

    @classmethod
    def of(cls, config: ClusterConfig) -> ClusterSettings:
        return cls(**asdict(config))


class CollectionCreate(Strict):
    name: CollectionName
    model: str | None = Field(default=None, max_length=512, description="Default: server's model")
    payload_schema: dict[FieldName, FieldType] = Field(default_factory=dict, max_length=64)
    index: IndexSettings = Field(default_factory=IndexSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    keyword: KeywordSettings | None = Field(
        default_factory=KeywordSettings, description="the BM25 index; null: none"
    )
    rerank: RerankDefault | None = Field(
        default=None, description="the re-ranker text searches use unless they say otherwise"
    )


class CollectionPublic(BaseModel):
    name: str
    version: str = Field(description="the physical collection behind the name")
    active: bool = Field(description="whether searches under `name` use this version")
    model: str
    dim: int
    count: int
    payload_schema: dict[str, FieldType]
    index: IndexSettings
    cluster: ClusterSettings = Field(
        default_factory=ClusterSettings, description="nulls: one copy, as a single node keeps it"
    )
    random_weights: bool = Field(description="True when the model has random test weights")
    keyword: KeywordPublic | None = Field(default=None, description="null: no keyword index")
    rerank: RerankDefault | None = Field(default=None, description="null: no default re-ranker")


class ReembedRequest(Strict):
    model: str = Field(min_length=1, max_length=512)
    index: IndexSettings | None = Field(
        default=None, description="the new version's index settings; default: the current ones"
    )


class CollectionsPublic(BaseModel):
    data: list[CollectionPublic]
    count: int


class IngestItemIn(TypedDict):
    """One item of an ingest request. A typed dict rather than a model: a request may carry
    100,000 items, and validating them into dicts costs a tenth of building model objects."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    uri: Annotated[str, Field(min_length=1, max_length=2048)]
    id: NotRequired[Annotated[str | None, Field(min_length=1, max_length=512)]]
    metadata: NotRequired[
        Annotated[Metadata, Field(description="within the metadata bounds, else the item fails")]
    ]
    text: NotRequired[Annotated[str | None, Field(max_length=MAX_TEXT)]]


class AutoLabelsIn(Strict):
    labels: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=1000
    )
    top_k: int = Field(default=3, ge=1, le=100)
    prompt_template: str = Field(default="a photo of {}", max_length=500)
    field: FieldName = "labels"

    @field_validator("prompt_template")
    @classmethod
    def _has_slot(cls, value: str) -> str:
        if "{}" not in value:
            raise ValueError("prompt_template must contain {} where the label goes")
        return value


class VideoIn(Strict):
    """How a job samples its videos' frames (unset fields: the server's defaults)."""

    min_interval_s: float | None = Field(default=None, gt=0, le=86_400)
    max_interval_s: float | None = Field(default=None, gt=0, le=86_400)
    max_frames: int | None = Field(
        default=None, ge=1, le=100_000, description="capped at MMSEARCH_MAX_VIDEO_FRAMES"
    )

    @model_validator(mode="after")
    def _ordered(self) -> VideoIn:
        low, high = self.min_interval_s, self.max_interval_s
        if low is not None and high is not None and low > high:
            raise ValueError("min_interval_s must not exceed max_interval_s")
        return self


class IngestRequest(Strict):
    items: list[IngestItemIn] | None = None
    prefix: str | None = Field(default=None, min_length=1, max_length=2048)
    metadata: BoundedMetadata = Field(
        default_factory=dict, description="Applied to every item (items override)"
    )
    auto_labels: AutoLabelsIn | None = Field(
        default=None, description="Write each image's top zero-shot labels into its metadata"
    )
    dedup_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Skip an item whose nearest neighbour is at least this similar",
    )
    video: VideoIn | None = Field(
        default=None, description="how videos become frames: one per shot and per interval"
    )

    @model_validator(mode="after")
    def _one_source(self) -> IngestRequest:
        if (self.items is None) == (self.prefix is None):
            raise ValueError("give exactly one of 'items' or 'prefix'")
        if self.items is not None and not self.items:
            raise ValueError("'items' must not be empty")
        return self


class JobAccepted(BaseModel):
    job_id: str
    status: JobStatus
    total: int | None = Field(description="None while a prefix is still being listed")
    collection: str | None = Field(default=None, description="the version a re-embed builds")


class JobError(BaseModel):
    uri: str | None
    id: str | None
    code: str
    message: str


class JobProcessing(BaseModel):
    loaded: int = Field(description="Items of batches in flight fetched and decoded (or refused)")
    embedded: int = Field(description="Of those, items embedded; not yet in `succeeded`")


class JobPublic(OmitsUnset):
    job_id: str
    collection: str
    status: JobStatus
    total: int
    succeeded: int
    failed: int
    skipped: int
    pending: int
    videos: int = Field(default=0, description="Of the succeeded items, videos")
    frames: int = Field(default=0, description="Frames of those videos indexed (points)")
    listing: bool
    message: str | None
    errors: list[JobError]
    error_count: int = Field(description="Errors kept (the list is capped; `failed` counts all)")
    retries: int = Field(default=0, description="Times its failed items were sent again")
    processing: JobProcessing = Field(
        description="Progress inside the batches in flight, in steps of about 8 items: not "
        "counted in `succeeded`/`failed`; reset when a batch is redelivered, 0 once final"
    )
    items_per_second: float | None = Field(
        description="Items done ÷ (last count − first pickup by a worker); null before"
    )
    source_id: str | None = Field(default=None, description="a source's sync: which source")
    added: int | None = Field(default=None, description="a sync: objects new to the collection")
    updated: int | None = Field(default=None, description="a sync: objects changed since")
    removed: int | None = Field(default=None, description="a sync: objects gone, items removed")
    unchanged: int | None = Field(default=None, description="a sync: objects as they were")
    dry_run: bool | None = Field(default=None, description="a sync that only compared")
    created_at: str
    updated_at: str


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


class RetryRequest(Strict):
    codes: list[ItemErrorCode] = Field(
        default_factory=list, max_length=20, description="Retry only these codes (empty: all)"
    )


class RetryAccepted(BaseModel):
    job_id: str
    status: JobStatus
    requeued: int = Field(description="Failed items sent again; they count as pending")
    attempt: int


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody
