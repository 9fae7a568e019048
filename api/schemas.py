"""Typed request and response bodies; separate input and output types per resource."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from infra.jobs import JobStatus
from infra.vectors import FieldType


def _no_version_suffix(name: str) -> str:
    if "--" in name:
        raise ValueError("'--' is reserved for collection versions")
    return name


CollectionName = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,55}$"), AfterValidator(_no_version_suffix)
]
FieldName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,127}$")]
MAX_TEXT = 4096


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectionCreate(Strict):
    name: CollectionName
    model: str | None = Field(default=None, max_length=512, description="Default: server's model")
    payload_schema: dict[FieldName, FieldType] = Field(default_factory=dict, max_length=64)


class CollectionPublic(BaseModel):
    name: str
    version: str = Field(description="the physical collection behind the name")
    active: bool = Field(description="whether searches under `name` use this version")
    model: str
    dim: int
    count: int
    payload_schema: dict[str, FieldType]
    random_weights: bool = Field(description="True when the model has random test weights")


class ReembedRequest(Strict):
    model: str = Field(min_length=1, max_length=512)


class CollectionsPublic(BaseModel):
    data: list[CollectionPublic]
    count: int


class IngestItemIn(Strict):
    uri: str = Field(min_length=1, max_length=2048)
    id: str | None = Field(default=None, min_length=1, max_length=512)
    metadata: dict[FieldName, Any] = Field(default_factory=dict, max_length=256)
    text: str | None = Field(default=None, max_length=MAX_TEXT)


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


class IngestRequest(Strict):
    items: list[IngestItemIn] | None = None
    prefix: str | None = Field(default=None, min_length=1, max_length=2048)
    metadata: dict[FieldName, Any] = Field(
        default_factory=dict, max_length=256, description="Applied to every item (items override)"
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


class JobPublic(BaseModel):
    job_id: str
    collection: str
    status: JobStatus
    total: int
    succeeded: int
    failed: int
    skipped: int
    pending: int
    listing: bool
    message: str | None
    errors: list[JobError]
    error_count: int = Field(description="Errors kept (the list is capped; `failed` counts all)")
    created_at: str
    updated_at: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody
