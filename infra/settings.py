"""The one settings module: every knob comes from here, read from `MMSEARCH_*` variables."""

from __future__ import annotations

import json
from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mmsearch.encoders.allowed import weights_allowed
from mmsearch.encoders.runtimes import DEFAULT_EXPORT_ROOT, EncoderRuntime, check_runtime
from mmsearch.infra.api_keys import parse_entry
from mmsearch.infra.catalog.metadata import MetadataLimits
from mmsearch.infra.catalog.sources import parse_scope
from mmsearch.infra.catalog.tenancy import TENANT_NAME
from mmsearch.infra.media.uris import SCHEMES

DEFAULT_MODEL = "ViT-B-32/laion2b_s34b_b79k"

CommaList = Annotated[list[str], NoDecode]
_METADATA = MetadataLimits()


class Settings(BaseSettings):
    """Platform configuration; `MMSEARCH_` prefix, `__` for nesting."""

    model_config = SettingsConfigDict(
        env_prefix="MMSEARCH_", env_nested_delimiter="__", extra="ignore"
    )

    # Services
    redis_url: str | None = Field(
        default=None, description="Redis URL (broker + job state). Unset: standalone starts one."
    )
    qdrant_url: str | None = Field(
        default=None, description="Qdrant server URL. Unset: the embedded engine in data_dir."
    )
    qdrant_api_key: SecretStr | None = None
    index_quiet_s: float = Field(
        default=1.0,
        ge=0,
        description="Embedded engine: an index build waits for this long without a search, so "
        "that it does not stall queries (it holds the process); 0: build as points arrive",
    )
    index_max_defer_s: float = Field(
        default=120.0,
        ge=0,
        description="Embedded engine: the longest a backlog of new points waits for such a "
        "pause before it is indexed anyway (meanwhile it is searched exactly)",
    )
    data_dir: Path = Field(default=Path("mmsearch-data"), description="Local state folder.")

    # Object storage
    s3_endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint (MinIO).")
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    file_root: Path | None = Field(
        default=None, description="The only folder file:// may read. Unset: file:// is refused."
    )
    allowed_schemes: CommaList = Field(
        default_factory=lambda: ["s3", "file"], description="s3, file, http, https"
    )
    http_allowed_networks: CommaList = Field(
        default_factory=list,
        description="Private networks http(s) references may reach (CIDR); public ones always",
    )
    tenant_sources: Annotated[dict[str, list[str]], NoDecode] = Field(
        default_factory=dict,
        description="JSON {tenant: [file:///folder/, s3://bucket/prefix/, https://host/]}: what "
        "a tenant key may reference; a tenant without an entry may reference nothing",
    )
    fetch_concurrency: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Items a worker process fetches at once, split across its feeder processes "
        "(at least one each)",
    )
    feed_processes: int | None = Field(
        default=None,
        ge=0,
        le=256,
        description="Processes that fetch, decode and resize ingest images, so that decoding "
        "scales past one core; unset: one per core the worker may use; 0: threads in the "
        "worker process",
    )
    ingest_nice: int = Field(
        default=2,
        ge=0,
        le=19,
        description="Nice value of the ingest worker's threads (tasks, fetch and decode, their "
        "torch threads), so that queries on the same machine take the CPU first; 0: same "
        "priority",
    )
    fetch_timeout_s: float = Field(default=30.0, gt=0)

    # Models
    default_model: str = DEFAULT_MODEL
    models: CommaList = Field(
        default_factory=list,
        description="Models clients may create, re-embed or classify with (comma-separated or a"
        " JSON list); the default model and the models of existing collections always may",
    )
    model_cache_size: int = Field(
        default=4, ge=1, description="Most models kept loaded per process (least recently used go)"
    )
    model_idle_ttl_s: int = Field(
        default=0,
        ge=0,
        description="Unload a model unused this long (not the default model); 0: never",
    )
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:N")
    runtime: Literal["torch", "onnx", "openvino"] = Field(
        default="torch",
        description="What runs the models: torch, or their ONNX export (made at the first start"
        " that lacks it, kept in export_dir) under ONNX Runtime or OpenVINO",
    )
    precision: Literal["auto", "fp32", "fp16", "int8"] = Field(
        default="auto",
        description="auto: fp16 on a GPU, else fp32; int8 and fp16 need onnx or"
        " openvino (int8: calibrated on calibration_dir's images, else generated ones)",
    )
    export_dir: Path = Field(default=DEFAULT_EXPORT_ROOT, description="Model exports")
    calibration_dir: Path | None = None
    batch_size: int = Field(default=64, ge=1, le=4096)
    model_cache_dir: Path | None = None
    weights_dirs: CommaList = Field(
        default_factory=list,
        description="The only folders local weights (ARCH/file:PATH) may load from; empty: the"
        " model cache dir (unset too: no local weights)",
    )

    # Limits
    max_items_per_request: int = Field(default=100_000, ge=1)
    max_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_points_per_request: int = Field(
        default=1000, ge=1, description="Points one write of precomputed vectors may carry"
    )
    max_image_bytes: int = Field(default=32 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(default=64_000_000, ge=1)
    max_video_bytes: int = Field(default=512 * 1024 * 1024, ge=1, description="Per video item")
    max_video_duration_s: float = Field(default=3600.0, gt=0)
    max_video_frames: int = Field(
        default=500, ge=1, le=100_000, description="Most frames an ingest may ask per video"
    )
    video_min_interval_s: float = Field(default=1.0, gt=0, description="Ingest's default")
    video_max_interval_s: float = Field(default=10.0, gt=0, description="Ingest's default")
    video_frames: int = Field(default=60, ge=1, description="Frames per video, ingest's default")
    media_link_secret: SecretStr | None = Field(
        default=None, description="Signs media links (default: derived from the API keys)"
    )
    media_link_ttl_s: int = Field(default=3600, ge=60, le=7 * 86_400)
    query_max_image_pixels: int = Field(
        default=4096 * 4096,
        ge=1,
        description="Pixel limit of a query image (search, classify): one request may not hold"
        " an ingest-sized picture in memory",
    )
    query_decode_concurrency: int = Field(
        default=4, ge=1, le=256, description="Most query images an API process decodes at once"
    )
    decode_min_side: int = Field(
        default=512,
        ge=0,
        description="Images are decoded (JPEGs) or reduced right after decoding (other formats)"
        " to the smallest integer scale that keeps both sides at least this long (models need"
        " 224-384); 0: always keep the full size",
    )
    max_json_depth: int = Field(
        default=256,
        ge=16,
        le=900,  # Python's parser recurses once per level and stops near 1,000
        description="Most nesting levels of a JSON request body (item metadata has its own bound)",
    )
    max_metadata_depth: int = Field(
        default=_METADATA.depth, ge=1, le=64, description="Most nesting levels of item metadata"
    )
    max_metadata_keys: int = Field(
        default=_METADATA.keys, ge=1, description="Most keys of item metadata, at every level"
    )
    max_metadata_bytes: int = Field(
        default=_METADATA.bytes, ge=64, description="Largest item metadata, serialised as JSON"
    )
    max_job_errors: int = Field(default=1000, ge=1)
    query_cache_size: int = Field(
        default=10_000, ge=0, description="Text-query embeddings kept per API process (0: off)"
    )
    query_batch_max: int = Field(
        default=32, ge=1, description="Most concurrent text queries encoded in one forward"
    )
    max_prefix_objects: int = Field(default=1_000_000, ge=1)
    sync_page_size: int = Field(
        default=1000, ge=1, le=10_000, description="Objects a source's sync compares per step"
    )
    sync_tick_s: float = Field(
        default=5.0, gt=0, description="How often sync schedules and bucket events are checked"
    )
    bucket_events_key: str | None = Field(
        default=None, description="Redis list MinIO publishes bucket events to (access format)"
    )
    task_visibility_timeout_s: int = Field(
        default=1800,
        ge=10,
        description="Unacked tasks of a lost worker are redelivered after this.",
    )
    upsert_retries: int = Field(default=5, ge=0)
    worker_metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Serve a worker's /metrics on this port"
    )
    job_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)

    # API
    api_image_queries: bool = Field(
        default=True,
        description="Image queries (uploads, base64, URIs) and /v1/classify need the image tower;"
        " false: an API process loads each model's text tower only (less memory)",
    )
    api_keys: CommaList = Field(
        default_factory=list,
        description="sha256:<hex>[:read|write|admin] entries (`mmsearch hash-key` makes one)",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one object per line, with job/collection/batch"
    )

    @field_validator(
        "allowed_schemes",
        "api_keys",
        "http_allowed_networks",
        "models",
        "weights_dirs",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().startswith("["):
            return json.loads(value)
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_schemes")
    @classmethod
    def _known_schemes(cls, value: list[str]) -> list[str]:
        unknown = set(value) - set(SCHEMES)
        if unknown:
            raise ValueError(f"unsupported schemes: {sorted(unknown)}; supported: {SCHEMES}")
        return value

    @field_validator("http_allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ip_network(network, strict=False)
            except ValueError as exc:
                raise ValueError(f"not a network: {network!r} (CIDR: 10.1.2.0/24)") from exc
        return value

    @field_validator("tenant_sources", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):  # from the environment; empty (compose's default) is none
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("tenant_sources")
    @classmethod
    def _source_scopes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for tenant, scopes in value.items():
            if not TENANT_NAME.match(tenant):
                raise ValueError(f"not a tenant name: {tenant!r}")
            for scope in scopes:
                parse_scope(scope)
        return value

    @field_validator("api_keys")
    @classmethod
    def _hashed_keys(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_entry(entry)
        return value

    @model_validator(mode="after")
    def _weights_in_folders(self) -> Settings:
        outside = [m for m in self.allowed_models if not weights_allowed(m, self.weights_folders)]
        if outside:
            raise ValueError(
                f"models {outside} load weights from outside MMSEARCH_WEIGHTS_DIRS (default:"
                " MMSEARCH_MODEL_CACHE_DIR); list their folder there"
            )
        return self

    @model_validator(mode="after")
    def _runtime_pair(self) -> Settings:
        check_runtime(self.runtime, self.precision)
        return self

    @property
    def encoder_runtime(self) -> EncoderRuntime:
        """What runs the models, as the encoder registry takes it."""
        return EncoderRuntime(self.runtime, self.precision, self.export_dir, self.calibration_dir)

    @property
    def weights_folders(self) -> list[Path]:
        """The folders local weights may load from: weights_dirs, else the model cache dir."""
        if self.weights_dirs:
            return [Path(folder) for folder in self.weights_dirs]
        return [self.model_cache_dir] if self.model_cache_dir is not None else []

    @property
    def allowed_models(self) -> list[str]:
        """The configured models, the default model first (collections' models come on top)."""
        return [self.default_model, *self.models]

    @property
    def metadata_limits(self) -> MetadataLimits:
        """The bounds every item's metadata is checked against before it is written."""
        return MetadataLimits(
            self.max_metadata_depth, self.max_metadata_keys, self.max_metadata_bytes
        )

    @property
    def embedded_qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
