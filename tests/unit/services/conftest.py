"""The API services over real stores: the embedded vector engine in a temporary folder, Redis
database 11 for jobs, `file://` media under a temporary root, the tiny random-weights encoder.

The services send tasks through a Celery app of the tests' own, with database 11 as its broker.
Nothing consumes them: they wait in the queue, where a test can read them
(`tests.fixtures.broker`).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from PIL import Image

from mmsearch.api.schemas.resources import CollectionCreate
from mmsearch.api.services.collections import create_collection
from mmsearch.encoders import TINY_TEST_MODEL, Encoder, get_encoder
from mmsearch.encoders.text_queries import TextQueryCache
from mmsearch.infra.catalog.payload import ItemPayload
from mmsearch.infra.catalog.points import item_point_id
from mmsearch.infra.jobs.outbox import Outbox
from mmsearch.infra.jobs.store import JobStore
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors import (
    IMAGE_VECTOR,
    TEXT_VECTOR,
    CollectionSpec,
    EdgeVectorStore,
    VectorPoint,
)
from mmsearch.workers.celery_app import celery_config
from mmsearch.workers.dispatch import TaskSender
from tests.fixtures.images import generated_jpeg

JOBS_DB = 11
OTHER_MODEL = "mmsearch-tiny/random:3"  # allowed besides the default; another vector space
SCHEMA = {"parity": "keyword", "n": "integer"}


def _database(url: str, number: int) -> str:
    return f"{url.rsplit('/', 1)[0]}/{number}"


class RecordingLoader:
    """The process's real encoder loader (CPU); remembers which models it was asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, model: str) -> Encoder:
        self.asked.append(model)
        return get_encoder(model, device="cpu")


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return get_encoder(TINY_TEST_MODEL, device="cpu")


@pytest.fixture()
def settings(tmp_path: Path, redis_url: str, file_root: Path) -> Settings:
    return Settings(
        redis_url=_database(redis_url, JOBS_DB),
        data_dir=tmp_path / "data",
        file_root=file_root,
        default_model=TINY_TEST_MODEL,
        models=[OTHER_MODEL],
        batch_size=2,
        max_items_per_request=5,
        tenant_sources={tenant: [f"file://{file_root}/"] for tenant in ("a", "b")},
    )


@pytest.fixture()
def jobs(settings: Settings) -> Iterator[JobStore]:
    client = redis.Redis.from_url(settings.redis_url or "")
    client.flushdb()
    yield JobStore(client, max_errors=settings.max_job_errors, ttl_s=settings.job_ttl_s)
    client.close()


@pytest.fixture()
def outbox(jobs: JobStore, settings: Settings) -> Outbox:
    return Outbox(jobs, ttl_s=settings.job_ttl_s)


@pytest.fixture()
def broker(jobs: JobStore) -> redis.Redis:
    """The broker's database: the jobs' one, emptied with it."""
    return jobs.redis


@pytest.fixture()
def sender(settings: Settings, outbox: Outbox, broker: redis.Redis) -> Iterator[TaskSender]:
    """Sends through a Celery app configured as the API's, to the test's broker database."""
    celery = Celery("mmsearch", set_as_current=False, config_source=celery_config(settings))
    yield TaskSender(celery, outbox)
    celery.close()


@pytest.fixture()
def objects(settings: Settings) -> ObjectStore:
    return ObjectStore(settings)


@pytest.fixture()
def vectors(tmp_path: Path) -> Iterator[EdgeVectorStore]:
    store = EdgeVectorStore(tmp_path / "vectors")
    yield store
    store.close()


@pytest.fixture()
def load() -> RecordingLoader:
    return RecordingLoader()


@pytest.fixture()
def texts() -> TextQueryCache:
    return TextQueryCache(size=64, max_batch=8)


MakeCollection = Callable[..., CollectionSpec]
AddPhotos = Callable[..., None]


@pytest.fixture()
def make_collection(
    vectors: EdgeVectorStore, load: RecordingLoader, settings: Settings
) -> MakeCollection:
    """Create a collection through the service (the default model unless one is named)."""

    def create(name: str, model: str | None = None) -> CollectionSpec:
        body = CollectionCreate.model_validate(
            {"name": name, "model": model, "payload_schema": SCHEMA}
        )
        create_collection(vectors, load, settings.allowed_models, settings.default_model, body)
        return vectors.spec(name)

    return create


@pytest.fixture()
def photos(make_collection: MakeCollection) -> CollectionSpec:
    """An empty collection `photos` of the default model."""
    return make_collection("photos")


@pytest.fixture()
def add_photos(
    vectors: EdgeVectorStore, encoder: Encoder, photos: CollectionSpec, file_root: Path
) -> AddPhotos:
    """index_items into `photos`, with pictures under the media root."""

    def add(seeds: Sequence[int], **options: Any) -> None:
        index_items(vectors, encoder, photos, file_root, seeds, **options)

    return add


def decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def index_items(
    vectors: EdgeVectorStore,
    encoder: Encoder,
    spec: CollectionSpec,
    root: Path,
    seeds: Sequence[int],
    *,
    tenant: str | None = None,
    captions: bool = False,
    prefix: str = "p",
    size: tuple[int, int] = (160, 120),
) -> None:
    """Write a generated JPEG per seed under `root` and index it: image vector (and a caption's
    text vector), the catalog's payload (`parity`, `n`) and point id. Ids are `prefix` + seed."""
    points = []
    for seed in seeds:
        path = root / f"{prefix}{seed}.jpg"
        path.write_bytes(generated_jpeg(seed, size))
        item_id, caption = f"{prefix}{seed}", f"generated picture number {seed}"
        vector = encoder.embed_images([decoded(path.read_bytes())])[0]
        named = {IMAGE_VECTOR: vector}
        if captions:
            named[TEXT_VECTOR] = encoder.embed_texts([caption])[0]
        metadata = {"parity": "even" if seed % 2 == 0 else "odd", "n": seed}
        payload = ItemPayload(
            uri=file_uri(path),
            id=item_id,
            metadata=metadata,
            text=caption if captions else None,
            tenant=tenant,
        )
        point_id = item_point_id(spec, item_id, tenant)
        points.append(VectorPoint(id=point_id, vectors=named, payload=payload.to_payload()))
    vectors.upsert(spec.name, points)
