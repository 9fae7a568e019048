"""The Celery app: configured once per Flask app, tasks registered under the names sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from mmsearch.infra.settings import Settings
from mmsearch.workers.celery_app import (
    COPY_COLLECTION,
    EXPAND_PREFIX,
    INGEST_BATCH,
    INGEST_QUEUE,
    celery_app,
    celery_config,
    celery_init_app,
)


@pytest.fixture()
def restored_conf() -> Iterator[None]:
    keys = list(celery_config(Settings(redis_url="redis://unused")))
    saved = {key: celery_app.conf[key] for key in keys}
    yield
    celery_app.conf.update(saved)


def test_celery_is_configured_once_from_the_flask_app(restored_conf: None) -> None:
    settings = Settings(redis_url="redis://127.0.0.1:1/3", task_visibility_timeout_s=120)
    app = Flask(__name__)
    app.config["CELERY"] = celery_config(settings)
    assert celery_init_app(app) is celery_app and app.extensions["celery"] is celery_app
    conf = celery_app.conf
    assert conf.broker_url == settings.redis_url and conf.task_default_queue == INGEST_QUEUE
    assert conf.task_acks_late and conf.broker_transport_options["visibility_timeout"] == 120
    app.config["CELERY"] = celery_config(Settings(redis_url="redis://127.0.0.1:1/4"))
    celery_init_app(app)
    assert celery_app.conf.broker_url == settings.redis_url  # once per app


def test_a_redis_url_is_required() -> None:
    with pytest.raises(ValueError, match="MMSEARCH_REDIS_URL"):
        celery_config(Settings(redis_url=None))


def test_tasks_are_registered_under_the_names_dispatch_sends() -> None:
    from mmsearch.workers import tasks

    for name, task in (
        (INGEST_BATCH, tasks.ingest_batch),
        (EXPAND_PREFIX, tasks.expand_prefix),
        (COPY_COLLECTION, tasks.copy_collection),
    ):
        # Before the app is finalised the decorator hands back a proxy of the registered task.
        current = getattr(task, "_get_current_object", lambda task=task: task)()
        assert celery_app.tasks[name] is current and current.name == name
