"""The process's shared clients, built once from settings: Redis, jobs, objects, vectors."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

import redis

from mmsearch.encoders import Encoder, configure_cache, get_encoder
from mmsearch.encoders.rerankers import Reranker, get_reranker
from mmsearch.encoders.text_queries import TextQueryCache
from mmsearch.infra.errors import Unavailable
from mmsearch.infra.jobs.outbox import Outbox
from mmsearch.infra.jobs.store import JobStore
from mmsearch.infra.media.feeder import Feeder
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.settings import Settings, get_settings
from mmsearch.infra.sync.sources import SourceStore
from mmsearch.infra.threads import lower_this_thread
from mmsearch.infra.vectors import VectorStore, open_vector_store


class Runtime:
    """Lazily-built shared clients; in standalone mode the API and the worker share one."""

    def __init__(
        self, settings: Settings, text_only: bool = False, vectors: VectorStore | None = None
    ) -> None:
        """`vectors`: a store opened elsewhere (the engine another process owns) instead of
        the one the settings name."""
        self.settings = settings
        self.text_only = text_only  # an API process without image queries: text towers only
        self._lock = threading.Lock()
        self._vectors: VectorStore | None = vectors

    @cached_property
    def redis(self) -> redis.Redis:
        if not self.settings.redis_url:
            raise Unavailable("MMSEARCH_REDIS_URL is not set")
        return redis.Redis.from_url(self.settings.redis_url, health_check_interval=30)

    @cached_property
    def jobs(self) -> JobStore:
        s = self.settings
        return JobStore(self.redis, max_errors=s.max_job_errors, ttl_s=s.job_ttl_s)

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(self.jobs, ttl_s=self.settings.job_ttl_s)

    @cached_property
    def sources(self) -> SourceStore:
        return SourceStore(self.redis)

    @cached_property
    def objects(self) -> ObjectStore:
        return ObjectStore(self.settings)

    @cached_property
    def fetch_pool(self) -> ThreadPoolExecutor:
        """The threads that fetch and decode ingest media, shared by every batch."""
        s = self.settings
        return ThreadPoolExecutor(
            max_workers=s.fetch_concurrency,
            thread_name_prefix="fetch",
            initializer=lower_this_thread,
            initargs=(s.ingest_nice,),
        )

    @cached_property
    def feeder(self) -> Feeder | None:
        """The processes that load ingest images, shared by every batch (none when
        `feed_processes` is 0); started at the first batch."""
        processes = self.settings.feed_processes
        return None if processes == 0 else Feeder(self.settings, processes)

    @cached_property
    def text_queries(self) -> TextQueryCache:
        """Text-query embeddings kept and batched for every request this process serves."""
        s = self.settings
        return TextQueryCache(s.query_cache_size, s.query_batch_max)

    @property
    def vectors(self) -> VectorStore:
        # Not a cached_property: two threads must never both open the embedded engine's folder.
        with self._lock:
            if self._vectors is None:
                self._vectors = open_vector_store(self.settings)
            return self._vectors

    def encoder(self, model: str, log_failure: bool = True) -> Encoder:
        """The loaded encoder for a model name (once per process, in the bounded model cache);
        `log_failure`: log why it cannot be loaded (off where the caller reports it)."""
        s = self.settings
        # The default model never idles out: the API preloads it and /readyz probes it.
        configure_cache(s.model_cache_size, s.model_idle_ttl_s, keep=[s.default_model])
        return get_encoder(
            model,
            device=s.device,
            cache_dir=s.model_cache_dir,
            text_only=self.text_only,
            weights_dirs=s.weights_folders,
            log_failure=log_failure,
            runtime=s.encoder_runtime,
        )

    def reranker(self, model: str) -> Reranker:
        """The loaded re-ranker for a model name (see mmsearch.encoders.rerankers)."""
        s = self.settings
        return get_reranker(model, s.device, s.model_cache_dir, s.weights_folders)

    def close(self) -> None:
        """Close the vector store, the Redis pool, the fetch threads and the feeder if they were
        opened."""
        with self._lock:
            if self._vectors is not None:
                self._vectors.close()
                self._vectors = None
        state: dict[str, Any] = self.__dict__
        if "redis" in state:
            state["redis"].close()
        if "fetch_pool" in state:  # dropped, so a later batch starts a new pool
            state.pop("fetch_pool").shutdown(wait=False)
        feeder = state.pop("feeder", None)
        if feeder is not None:
            feeder.close()


_RUNTIME: Runtime | None = None
_RUNTIME_LOCK = threading.Lock()


def get_runtime() -> Runtime:
    """The process-wide runtime (built from get_settings() unless one was installed)."""
    global _RUNTIME
    with _RUNTIME_LOCK:
        if _RUNTIME is None:
            _RUNTIME = Runtime(get_settings())
        return _RUNTIME


def set_runtime(runtime: Runtime | None) -> None:
    """Install the runtime this process uses (the API and standalone mode do this)."""
    global _RUNTIME
    with _RUNTIME_LOCK:
        _RUNTIME = runtime
