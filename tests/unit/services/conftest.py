"""The API services over real stores: the embedded vector engine in a temporary folder, Redis
database 11 for jobs, `file://` media under a temporary root, the tiny random-weights encoder.

Nothing consumes the tasks the services send: they wait in a real Redis broker's queue, where a
test can read them (see `queued_tasks`).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
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
from mmsearch.workers.celery_app import (
    INGEST_QUEUE,
    celery_app,
    celery_config,
    configure_celery,
)
from tests.fixtures.images import generated_jpeg

JOBS_DB = 11
# The Celery app keeps the broker pool it first used for the whole process, so every test that
# sends tasks in-process shares one database: the integration tests' `private_broker`.
BROKER_DB = 7
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
def broker(redis_url: str) -> Iterator[redis.Redis]:
    """The broker the services send to, emptied; restores the Celery configuration after."""
    url = _database(redis_url, BROKER_DB)
    saved = {key: celery_app.conf[key] for key in celery_config(Settings(redis_url=url))}
    configure_celery(Settings(redis_url=url))
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield client
    client.close()
    celery_app.conf.update(saved)


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


def queued_tasks(client: redis.Redis) -> list[tuple[str, list[Any]]]:
    """Name and arguments of each task waiting in the broker's ingest queue, oldest first."""
    tasks = []
    for raw in reversed(client.lrange(INGEST_QUEUE, 0, -1)):  # the broker pushes on the left
        message = json.loads(raw)
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        tasks.append((message["headers"]["task"], args))
    return tasks
