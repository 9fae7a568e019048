"""Collections: create, list, count per tenant, versions, re-embed, delete, the allowed models."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from mmsearch.api.schemas.resources import CollectionCreate, JobAccepted, ReembedRequest
from mmsearch.api.services.collections import (
    collection_public,
    create_collection,
    delete_collection,
    for_tenant,
    list_collections,
    load_encoder,
    reembed,
    versions,
)
from mmsearch.encoders import TINY_TEST_MODEL, Encoder
from mmsearch.infra.errors import (
    CollectionExists,
    CollectionNotFound,
    Conflict,
    InvalidRequest,
    ModelNotAllowed,
)
from mmsearch.infra.jobs.outbox import LISTING, Outbox, SentTask
from mmsearch.infra.jobs.store import JobStatus, JobStore
from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors import CollectionSpec, EdgeVectorStore
from mmsearch.workers.celery_app import COPY_COLLECTION
from mmsearch.workers.dispatch import TaskSender
from tests.fixtures.broker import queued_tasks
from tests.unit.services.conftest import (
    OTHER_MODEL,
    SCHEMA,
    AddPhotos,
    MakeCollection,
    RecordingLoader,
)

Reembed = Callable[[str, str], JobAccepted]


@pytest.fixture()
def start_reembed(
    vectors: EdgeVectorStore,
    jobs: JobStore,
    sender: TaskSender,
    load: RecordingLoader,
    settings: Settings,
) -> Reembed:
    """reembed(name, model) on the test's stores."""

    def call(name: str, model: str) -> JobAccepted:
        body = ReembedRequest(model=model)
        return reembed(vectors, jobs, sender, load, settings.allowed_models, name, body)

    return call


def test_a_created_collection_is_listed_and_counted_per_tenant(
    vectors: EdgeVectorStore, encoder: Encoder, add_photos: AddPhotos
) -> None:
    add_photos([1, 2, 3])
    add_photos([4, 5], tenant="a")
    [listed] = list_collections(vectors)
    assert (listed.name, listed.version, listed.active) == ("photos", "photos--v1", True)
    assert (listed.model, listed.dim, listed.count) == (encoder.name, encoder.dim, 5)
    assert listed.payload_schema == SCHEMA and listed.random_weights
    assert collection_public(vectors.get_collection("photos")) == listed
    counts = {t: for_tenant(vectors, listed, t).count for t in (None, "a", "b")}
    assert counts == {None: 5, "a": 2, "b": 0}


def test_a_name_in_use_is_refused(make_collection: MakeCollection, photos: CollectionSpec) -> None:
    with pytest.raises(CollectionExists):
        make_collection("photos")


def test_a_model_outside_the_list_is_refused_before_anything_loads(
    vectors: EdgeVectorStore, load: RecordingLoader, make_collection: MakeCollection
) -> None:
    with pytest.raises(ModelNotAllowed) as refused:
        make_collection("big", "ViT-B-32/openai")
    assert refused.value.code == "model_not_allowed" and refused.value.status == 422
    assert refused.value.details == {"allowed": [TINY_TEST_MODEL, OTHER_MODEL]}
    assert load.asked == [] and vectors.list_collections() == []


def test_a_refusal_names_no_local_weight_files(
    vectors: EdgeVectorStore, load: RecordingLoader
) -> None:
    allowed = [TINY_TEST_MODEL, "ViT-B-32/file:/srv/models/private.safetensors"]
    with pytest.raises(ModelNotAllowed) as refused:
        load_encoder(vectors, load, allowed, "ViT-B-32/openai")
    assert refused.value.details == {"allowed": [TINY_TEST_MODEL]}
    assert "/srv/models" not in refused.value.message and load.asked == []


def test_an_allowed_name_no_backend_knows_is_unknown_model(
    vectors: EdgeVectorStore, load: RecordingLoader
) -> None:
    body = CollectionCreate(name="odd", model="no-such-model")
    with pytest.raises(InvalidRequest) as refused:
        create_collection(vectors, load, ["no-such-model"], TINY_TEST_MODEL, body)
    assert refused.value.code == "unknown_model" and load.asked == ["no-such-model"]


def test_the_model_of_an_existing_collection_stays_allowed(
    vectors: EdgeVectorStore, load: RecordingLoader, make_collection: MakeCollection
) -> None:
    make_collection("first", OTHER_MODEL)
    only_default = [TINY_TEST_MODEL]
    second = CollectionCreate(name="second", model=OTHER_MODEL)
    created = create_collection(vectors, load, only_default, TINY_TEST_MODEL, second)
    assert created.model == OTHER_MODEL and load.asked == [OTHER_MODEL, OTHER_MODEL]
    with pytest.raises(ModelNotAllowed):
        third = CollectionCreate(name="third", model="A/b")
        create_collection(vectors, load, only_default, TINY_TEST_MODEL, third)


def test_reembed_builds_a_new_version_and_records_its_job(
    vectors: EdgeVectorStore,
    jobs: JobStore,
    outbox: Outbox,
    broker: redis.Redis,
    start_reembed: Reembed,
    add_photos: AddPhotos,
) -> None:
    add_photos([1, 2, 3])
    accepted = start_reembed("photos", OTHER_MODEL)
    assert (accepted.collection, accepted.status, accepted.total) == (
        "photos--v2",
        JobStatus.QUEUED,
        None,
    )
    assert vectors.spec("photos--v2").model == OTHER_MODEL
    assert vectors.spec("photos").name == "photos--v1"  # the alias moves once the copy is done
    listed = [(v.version, v.active, v.count) for v in versions(vectors, "photos")]
    assert listed == [("photos--v1", True, 3), ("photos--v2", False, 0)]
    state = jobs.get(accepted.job_id)
    assert (state.collection, state.listing, state.switch_alias) == ("photos--v2", True, "photos")
    v1, v2 = vectors.spec("photos--v1").incarnation, vectors.spec("photos--v2").incarnation
    assert state.incarnation == v2 and v2 is not None and v1 not in (None, v2)
    assert jobs.migration_target("photos") == "photos--v2"
    copy = SentTask(COPY_COLLECTION, [accepted.job_id, "photos--v1", "photos--v2"])
    assert outbox.pending(accepted.job_id) == {LISTING: copy}
    assert queued_tasks(broker) == [(copy.task, copy.args)]

    with pytest.raises(Conflict) as running:
        start_reembed("photos", OTHER_MODEL)
    assert running.value.code == "reembed_running"
    with pytest.raises(InvalidRequest) as version:
        start_reembed("photos--v1", OTHER_MODEL)
    assert version.value.code == "not_an_alias"


def test_reembed_into_a_model_outside_the_list_records_nothing(
    vectors: EdgeVectorStore,
    jobs: JobStore,
    outbox: Outbox,
    start_reembed: Reembed,
    photos: CollectionSpec,
) -> None:
    with pytest.raises(ModelNotAllowed):
        start_reembed("photos", "ViT-B-32/openai")
    assert [v.version for v in versions(vectors, "photos")] == ["photos--v1"]
    assert jobs.migration_target("photos") is None and outbox.active_jobs() == []


def test_delete_a_version_or_the_whole_collection(
    vectors: EdgeVectorStore, jobs: JobStore, start_reembed: Reembed, photos: CollectionSpec
) -> None:
    job_id = start_reembed("photos", OTHER_MODEL).job_id
    with pytest.raises(Conflict):
        delete_collection(vectors, "photos--v1")  # the active one goes with the name only
    assert delete_collection(vectors, "photos--v2") == ["photos--v2"]
    assert [v.version for v in versions(vectors, "photos")] == ["photos--v1"]
    jobs.cancel(job_id)  # ends the re-embed, so another may start
    start_reembed("photos", OTHER_MODEL)
    assert delete_collection(vectors, "photos") == ["photos--v1", "photos--v2"]
    assert list_collections(vectors) == [] and vectors.list_collections() == []
    with pytest.raises(CollectionNotFound):
        versions(vectors, "photos")
