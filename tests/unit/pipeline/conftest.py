"""The ingest pipeline on real stores: Redis (database 12, also the broker tasks are sent to), the
embedded vector engine, media in a local folder read through file://, and the tiny random-weights
encoder."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from celery import Celery

from mmsearch.encoders import TINY_TEST_MODEL, Encoder, get_encoder
from mmsearch.infra.jobs.outbox import Outbox
from mmsearch.infra.jobs.store import JobStore
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.settings import Settings
from mmsearch.infra.testing.photos import decode
from mmsearch.infra.vectors import CollectionSpec, EdgeVectorStore, VectorPoint
from mmsearch.workers.celery_app import celery_config
from mmsearch.workers.dispatch import TaskSender
from mmsearch.workers.enrich import NO_OPTIONS, IngestOptions
from mmsearch.workers.items import BatchOutcome
from mmsearch.workers.media import MediaLoader
from mmsearch.workers.pipeline import run_batch

COLLECTION = "pics"
STATE_DB = 12


def database_url(redis_url: str, db: int) -> str:
    """The session Redis server's URL for database `db`."""
    return f"{redis_url.rsplit('/', 1)[0]}/{db}"


@dataclass
class Stores:
    """The stores one test's pipeline runs on, and its media folder."""

    settings: Settings
    jobs: JobStore
    outbox: Outbox
    vectors: EdgeVectorStore
    objects: ObjectStore
    media: MediaLoader
    encoder: Encoder
    root: Path

    def put(self, name: str, data: bytes) -> str:
        """Write a file under the media folder; its file:// reference."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return file_uri(path)

    def run(
        self,
        job_id: str,
        batch: str,
        items: list[dict[str, Any]],
        options: IngestOptions = NO_OPTIONS,
        collection: str = COLLECTION,
    ) -> BatchOutcome:
        """Run one batch of a job as a worker does."""
        return run_batch(
            self.jobs,
            self.vectors,
            self.media,
            get_encoder,
            job_id,
            collection,
            batch,
            items,
            options,
        )

    def points(self, collection: str = COLLECTION) -> list[VectorPoint]:
        """Every point of a collection with its vectors, in id order."""
        points, cursor = self.vectors.scroll(collection, limit=1000, with_vectors=True)
        assert cursor is None
        return points

    def image_vector(self, data: bytes) -> np.ndarray:
        """The encoder's image vector for an image as a client decodes it."""
        return self.encoder.embed_images([decode(data)])[0]


@pytest.fixture()
def state_redis(redis_url: str) -> Iterator[redis.Redis]:
    """Database 12 of the session Redis server, emptied for each test."""
    client = redis.Redis.from_url(database_url(redis_url, STATE_DB))
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture()
def stores(state_redis: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[Stores]:
    """Real stores for one test, with the collection `pics` (tiny model) created."""
    root = tmp_path / "media"
    root.mkdir()
    settings = Settings(
        redis_url=database_url(redis_url, STATE_DB),
        data_dir=tmp_path / "data",
        file_root=root,
        default_model=TINY_TEST_MODEL,
        max_image_bytes=200_000,
        max_prefix_objects=50,
        tenant_sources={tenant: [f"file://{root}/"] for tenant in ("acme", "zen")},
    )
    jobs = JobStore(state_redis, max_errors=100, ttl_s=3600)
    vectors = EdgeVectorStore(tmp_path / "vectors")
    objects = ObjectStore(settings)
    encoder = get_encoder(TINY_TEST_MODEL)
    vectors.create_collection(CollectionSpec(COLLECTION, encoder.dim, TINY_TEST_MODEL))
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="fetch") as pool:
        media = MediaLoader(
            objects,
            pool,
            max_pixels=settings.max_image_pixels,
            min_side=settings.decode_min_side,
        )
        yield Stores(
            settings,
            jobs,
            Outbox(jobs, ttl_s=3600),
            vectors,
            objects,
            media,
            encoder,
            root,
        )
    vectors.close()


@pytest.fixture()
def sender(stores: Stores) -> Iterator[TaskSender]:
    """Sends through a Celery app configured as the workers', to database 12 (nothing consumes
    the queue; it is emptied with the database)."""
    config = celery_config(stores.settings)
    celery = Celery("mmsearch", set_as_current=False, config_source=config)
    yield TaskSender(celery, stores.outbox)
    celery.close()
