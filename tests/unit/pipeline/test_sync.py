"""Source syncs on real stores: a folder listed page by page and compared with the collection,
its batches run as a worker runs them, and a sync that dies part way resumed."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from prometheus_client import REGISTRY

from mmsearch.infra.catalog.payload import ItemPayload
from mmsearch.infra.errors import ItemErrorCode, SyncRunning
from mmsearch.infra.jobs.outbox import SentTask
from mmsearch.infra.jobs.store import JobState, JobStatus
from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.sync.sources import Source, SourceStore, new_source_id
from mmsearch.infra.testing.photos import generated_jpeg
from mmsearch.workers.celery_app import INGEST_BATCH
from mmsearch.workers.dispatch import TaskSender
from mmsearch.workers.enrich import IngestOptions
from mmsearch.workers.schedule import Syncs, take_events, tick
from mmsearch.workers.sync import SyncContext, run_sync
from tests.unit.pipeline.conftest import COLLECTION, Stores

EMBEDDED = "mmsearch_images_embedded_total"


def embedded() -> float:
    return REGISTRY.get_sample_value(EMBEDDED) or 0.0


class Library:
    """A folder source of the `pics` collection, synced as a worker would sync it."""

    def __init__(self, stores: Stores, sender: TaskSender, state: redis.Redis, **source: Any):
        self.stores, self.sender = stores, sender
        self.sources = SourceStore(state)
        self.folder = stores.root / source.pop("folder", "library")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.source = Source(
            id=new_source_id(),
            collection=COLLECTION,
            uri=file_uri(self.folder) + "/",
            created_at=time.time(),
            **source,
        )
        self.sources.add(self.source)
        self.syncs = Syncs(stores.jobs, self.sources, sender, stores.vectors)

    def context(self, sender: TaskSender | None = None, page_size: int = 5) -> SyncContext:
        s = self.stores.settings
        return SyncContext(
            self.stores.jobs,
            sender or self.sender,
            self.stores.vectors,
            self.stores.objects,
            self.sources,
            page_size=page_size,
            batch_size=4,
            limits=s.metadata_limits,
            max_bytes=s.max_image_bytes,
        )

    def write(self, key: str, seed: int) -> bytes:
        data = generated_jpeg(seed)
        path = self.folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    def sync(self, **options: Any) -> JobState:
        job_id = self.syncs.start(self.source, **options)
        run_sync(self.context(), job_id)
        return self.work(job_id)

    def work(self, job_id: str) -> JobState:
        """Run the job's queued batches as a worker does, until none is left."""
        while pending := self.stores.outbox.pending(job_id):
            for key, task in sorted(pending.items()):
                assert task.task == INGEST_BATCH, key
                _, collection, batch, items, options = task.args
                self.stores.run(job_id, batch, items, IngestOptions.from_dict(options), collection)
        return self.stores.jobs.get(job_id, errors_limit=100)

    def items(self) -> dict[str, ItemPayload]:
        """The collection's items by id (with their vectors' points)."""
        return {
            ItemPayload.from_payload(p.payload).id: ItemPayload.from_payload(p.payload)
            for p in self.stores.points()
        }

    def vector(self, item_id: str) -> np.ndarray:
        found = [p for p in self.stores.points() if p.payload["id"] == item_id]
        assert len(found) == 1
        return found[0].vectors["image"]


@pytest.fixture()
def library(stores: Stores, sender: TaskSender, state_redis: redis.Redis) -> Library:
    return Library(stores, sender, state_redis)


def counts(state: JobState) -> tuple[int, int, int, int]:
    assert state.sync is not None
    return state.sync.added, state.sync.updated, state.sync.removed, state.sync.unchanged


def test_a_folder_stays_in_sync_through_adds_deletes_and_overwrites(library: Library) -> None:
    originals = {
        f"day{i % 3}/p{i:02d}.jpg": library.write(f"day{i % 3}/p{i:02d}.jpg", i) for i in range(20)
    }
    first = library.sync()
    assert first.status == JobStatus.SUCCEEDED
    assert counts(first) == (20, 0, 0, 0) and first.succeeded == first.total == 20
    assert set(library.items()) == set(originals)  # ids: the keys below the folder

    keys = sorted(originals)
    for i in range(5):
        library.write(f"new/n{i}.jpg", 100 + i)
    for key in keys[:3]:
        (library.folder / key).unlink()
    overwritten = {key: library.write(key, 200 + n) for n, key in enumerate(keys[3:5])}
    second = library.sync()
    assert second.status == JobStatus.SUCCEEDED, second.errors
    assert counts(second) == (5, 2, 3, 15)
    assert second.total == second.succeeded == 7
    held = library.items()
    assert len(held) == 22 and not set(keys[:3]) & set(held)
    for key, data in overwritten.items():
        fresh = library.stores.image_vector(data)
        assert float(fresh @ library.vector(key)) > 0.999
        assert held[key].source is not None and held[key].source.key == key

    before = embedded()
    third = library.sync()
    assert counts(third) == (0, 0, 0, 22) and third.total == 0
    assert third.status == JobStatus.SUCCEEDED
    assert embedded() == before  # nothing embedded again


def test_a_file_whose_time_alone_changed_is_not_embedded_again(library: Library) -> None:
    library.write("a.jpg", 1)
    library.write("b.jpg", 2)
    hour_ago = time.time() - 3600
    for name in ("a.jpg", "b.jpg"):
        os.utime(library.folder / name, (hour_ago, hour_ago))
    assert counts(library.sync()) == (2, 0, 0, 0)
    os.utime(library.folder / "a.jpg")  # touched: a new time, the same bytes
    before = embedded()
    assert counts(library.sync()) == (0, 0, 0, 2)
    assert embedded() == before
    stamp = library.items()["a.jpg"].source
    assert stamp is not None and stamp.mtime_ns == (library.folder / "a.jpg").stat().st_mtime_ns


def test_a_rewrite_within_the_same_timestamp_is_found_by_its_content(library: Library) -> None:
    library.write("a.jpg", 1)
    assert counts(library.sync()) == (1, 0, 0, 0)
    path = library.folder / "a.jpg"
    info = path.stat()
    replacement = generated_jpeg(7)
    path.write_bytes(replacement[: info.st_size].ljust(info.st_size, b"\0"))  # same size
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # and the same time
    assert counts(library.sync()) == (0, 1, 0, 0)


def test_a_sync_that_died_part_way_resumes_without_duplicates(library: Library) -> None:
    for i in range(20):
        library.write(f"p{i:02d}.jpg", i)

    class Dies(TaskSender):
        sends = 0

        def send(self, tasks: dict[str, SentTask], producer: Any = None) -> None:
            Dies.sends += 1
            if Dies.sends == 3:  # after page 3 is written, before its batches are sent
                raise ConnectionError("worker lost")
            super().send(tasks, producer)

    job_id = library.syncs.start(library.source)
    dying = Dies(library.sender.celery, library.sender.outbox)
    with pytest.raises(ConnectionError):
        run_sync(library.context(dying), job_id)
    assert library.stores.jobs.get(job_id).status == JobStatus.RUNNING
    run_sync(library.context(), job_id)  # delivered again: resumes after page 3
    state = library.work(job_id)  # page 3's batches come from the outbox
    assert state.status == JobStatus.SUCCEEDED
    assert counts(state) == (20, 0, 0, 0) and state.total == state.succeeded == 20
    assert len(library.stores.points()) == 20


def test_an_item_whose_object_is_there_at_removal_is_kept(library: Library) -> None:
    """An object missing from the listing (deleted, then written again before the removal, as
    a folder that could not be read, or a write racing the listing) keeps its item."""
    for i in range(4):
        library.write(f"p{i}.jpg", i)
    library.sync()
    back = (library.folder / "p1.jpg").read_bytes()
    (library.folder / "p1.jpg").unlink()
    (library.folder / "p2.jpg").unlink()

    class Dies(TaskSender):
        def send(self, tasks: dict[str, SentTask], producer: Any = None) -> None:
            raise ConnectionError("worker lost after its last page was written")

    job_id = library.syncs.start(library.source)
    with pytest.raises(ConnectionError):
        run_sync(library.context(Dies(library.sender.celery, library.sender.outbox), 10), job_id)
    (library.folder / "p1.jpg").write_bytes(back)
    assert run_sync(library.context(), job_id)  # resumed: no page left, then the removal
    state = library.work(job_id)
    assert state.status == JobStatus.SUCCEEDED and counts(state) == (0, 0, 1, 2)
    assert sorted(library.items()) == ["p0.jpg", "p1.jpg", "p3.jpg"]


def test_a_source_gone_before_the_removal_fails_the_sync_and_keeps_its_items(
    library: Library,
) -> None:
    for i in range(3):
        library.write(f"p{i}.jpg", i)
    library.sync()

    class Dies(TaskSender):
        def send(self, tasks: dict[str, SentTask], producer: Any = None) -> None:
            raise ConnectionError("worker lost after its last page was written")

    job_id = library.syncs.start(library.source)
    with pytest.raises(ConnectionError):
        run_sync(library.context(Dies(library.sender.celery, library.sender.outbox)), job_id)
    library.folder.rename(library.folder.with_name("unmounted"))
    run_sync(library.context(), job_id)
    state = library.stores.jobs.get(job_id)
    assert state.status == JobStatus.FAILED and "not_found" in (state.message or "")
    assert len(library.items()) == 3


def test_a_second_runner_of_one_sync_writes_nothing(library: Library) -> None:
    for i in range(3):
        library.write(f"p{i}.jpg", i)
    job_id = library.syncs.start(library.source)
    progress = library.context().progress
    with progress.held(job_id, "another-worker") as mine:
        assert mine
        assert not run_sync(library.context(), job_id)  # its task is tried again later
        assert library.stores.outbox.pending(job_id).keys() == {"listing"}
    assert run_sync(library.context(), job_id)
    assert counts(library.work(job_id)) == (3, 0, 0, 0)


def test_a_dry_run_counts_and_changes_nothing(library: Library) -> None:
    for i in range(6):
        library.write(f"p{i}.jpg", i)
    library.sync()
    (library.folder / "p0.jpg").unlink()
    library.write("p9.jpg", 9)
    library.write("p1.jpg", 11)
    before = embedded()
    dry = library.sync(dry_run=True)
    assert dry.status == JobStatus.SUCCEEDED and dry.sync is not None and dry.sync.dry_run
    assert counts(dry) == (1, 1, 1, 4) and dry.total == 0
    assert embedded() == before
    assert sorted(library.items()) == [f"p{i}.jpg" for i in range(6)]
    assert counts(library.sync()) == (1, 1, 1, 4)


def test_patterns_captions_and_metadata_stamp_the_items(
    stores: Stores, sender: TaskSender, state_redis: redis.Redis
) -> None:
    library = Library(
        stores,
        sender,
        state_redis,
        include=("*.jpg",),
        exclude=("drafts/",),
        metadata={"album": "trip"},
        captions="captions.csv",
    )
    library.write("a.jpg", 1)
    library.write("b.jpg", 2)
    library.write("drafts/c.jpg", 3)
    library.write("d.png", 4)
    (library.folder / "captions.csv").write_text("image,caption\na.jpg,a red boat\nb.jpg,a dog\n")
    assert counts(library.sync()) == (2, 0, 0, 0)
    held = library.items()
    assert sorted(held) == ["a.jpg", "b.jpg"]
    assert held["a.jpg"].text == "a red boat" and held["a.jpg"].metadata == {"album": "trip"}

    (library.folder / "captions.csv").write_text("image,caption\na.jpg,a blue boat\nb.jpg,a dog\n")
    library.stores.vectors.set_payload(
        COLLECTION,
        [p.id for p in stores.points() if p.payload["id"] == "a.jpg"],
        {"metadata": {"album": "trip", "starred": True}},
    )
    assert counts(library.sync()) == (0, 1, 0, 1)  # the new caption changes a.jpg
    held = library.items()
    assert held["a.jpg"].text == "a blue boat"
    assert held["a.jpg"].metadata == {"album": "trip", "starred": True}  # an edit stays


def test_two_sources_never_take_each_others_items(
    stores: Stores, sender: TaskSender, state_redis: redis.Redis
) -> None:
    first = Library(stores, sender, state_redis, folder="one")
    second = Library(stores, sender, state_redis, folder="two")
    prefixed = Library(stores, sender, state_redis, folder="two", id_prefix="two/")
    first.write("a.jpg", 1)
    second.write("a.jpg", 2)
    assert counts(first.sync()) == (1, 0, 0, 0)
    clash = second.sync()
    assert clash.failed == 1 and clash.errors[0].code == ItemErrorCode.ID_CONFLICT
    assert counts(prefixed.sync()) == (1, 0, 0, 0)
    assert sorted(first.items()) == ["a.jpg", "two/a.jpg"]
    assert counts(first.sync()) == (0, 0, 0, 1)  # the other source's item is not removed


def test_a_new_source_takes_over_the_items_of_a_removed_one(
    stores: Stores, sender: TaskSender, state_redis: redis.Redis
) -> None:
    first = Library(stores, sender, state_redis, folder="shared")
    for i in range(3):
        first.write(f"p{i}.jpg", i)
    assert counts(first.sync()) == (3, 0, 0, 0)
    first.sources.remove(first.source.id)  # stopped, its items kept
    again = Library(stores, sender, state_redis, folder="shared")
    (again.folder / "p0.jpg").unlink()
    before = embedded()
    assert counts(again.sync()) == (0, 0, 0, 2)  # taken over, nothing embedded again
    assert embedded() == before
    held = again.items()
    owners = {key: item.source.id for key, item in held.items() if item.source}
    # p0's item was left by the removed source and is no new one's
    assert owners == {
        "p0.jpg": first.source.id,
        "p1.jpg": again.source.id,
        "p2.jpg": again.source.id,
    }
    again.write("p1.jpg", 11)
    (again.folder / "p2.jpg").unlink()
    assert counts(again.sync()) == (0, 1, 1, 0)  # the taken-over items are its own now


def test_one_sync_at_a_time_per_source(library: Library) -> None:
    library.write("a.jpg", 1)
    job_id = library.syncs.start(library.source)
    with pytest.raises(SyncRunning) as raised:
        library.syncs.start(library.source)
    assert raised.value.details == {"job_id": job_id}
    run_sync(library.context(), job_id)
    library.work(job_id)
    assert library.syncs.start(library.source) != job_id  # finished: another may start


def test_the_schedule_and_bucket_events_start_syncs(
    library: Library, state_redis: redis.Redis
) -> None:
    library.write("a.jpg", 1)
    scheduled = Source(
        id=new_source_id(),
        collection=COLLECTION,
        uri=library.source.uri,
        interval_s=60,
        created_at=time.time() - 61,
    )
    library.sources.add(scheduled)
    started = tick(library.syncs, None)
    assert len(started) == 1 and library.stores.jobs.get(started[0]).sync.source_id == scheduled.id  # type: ignore[union-attr]
    assert tick(library.syncs, None) == []  # running, then not due for another 60 s

    bucket = Source(id=new_source_id(), collection=COLLECTION, uri="s3://shots/2024/")
    library.sources.add(bucket)
    record = {
        "eventName": "s3:ObjectCreated:Put",
        "s3": {"bucket": {"name": "shots"}, "object": {"key": "2024/beach+day.jpg"}},
    }
    entry = f'[{{"Event": [{_json(record)}], "EventTime": "2026-12-01T00:00:00Z"}}]'
    elsewhere = {**record, "s3": {"bucket": {"name": "shots"}, "object": {"key": "2023/x.jpg"}}}
    odd = f'[{{"Event": [{_json(elsewhere)}]}}]'
    state_redis.rpush("events", entry, odd, "not json", '[1, "x", {"Event": 3}]')
    sources = library.sources.all()
    assert take_events(state_redis, "events", sources, library.sources) == 4
    assert library.sources.take_pending(bucket.id, 10) == ["beach day.jpg"]
    assert not library.sources.has_pending(library.source.id)

    # an event sync does not push the next scheduled full sync back
    run_sync(library.context(), started[0])
    library.work(started[0])
    full_at = library.sources.slot(scheduled.id).full_at
    library.sources.add_pending(scheduled.id, ["a.jpg"])
    events_job = tick(library.syncs, None)
    assert len(events_job) == 1 and library.sources.slot(scheduled.id).full_at == full_at
    run_sync(library.context(), events_job[0])
    library.work(events_job[0])
    assert tick(library.syncs, None, now=full_at + 61)  # due by the full sync's start


def test_an_event_sync_looks_at_its_keys_alone(library: Library) -> None:
    for i in range(4):
        library.write(f"p{i}.jpg", i)
    library.sync()
    (library.folder / "p0.jpg").unlink()
    (library.folder / "p1.jpg").unlink()
    library.write("p9.jpg", 9)
    unreadable = "x" * 300 + ".jpg"  # a name no file system takes: cannot be looked up
    keys = ["p0.jpg", "p9.jpg", "../p2.jpg", unreadable]
    job_id = library.syncs.start(library.source, keys=keys)
    run_sync(library.context(), job_id)
    state = library.work(job_id)
    assert counts(state) == (1, 0, 1, 0)
    assert state.failed == 1 and state.errors[0].id == unreadable
    assert state.status == JobStatus.COMPLETED_WITH_ERRORS
    assert sorted(library.items()) == ["p1.jpg", "p2.jpg", "p3.jpg", "p9.jpg"]


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def test_listing_resumes_after_a_key_in_s3_order(tmp_path: Path, stores: Stores) -> None:
    from mmsearch.infra.sync.listing import list_source

    names = ["a b.jpg", "a/x.jpg", "a/y/z.jpg", "a-b.jpg", "a0.jpg", "b.jpg"]
    folder = stores.root / "order"
    for n, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(generated_jpeg(n))
    source = Source(id="s", collection=COLLECTION, uri=file_uri(folder) + "/")
    listed = [entry.key for entry in list_source(stores.objects, source)]
    assert listed == sorted(names, key=lambda name: name.encode())
    for index, key in enumerate(listed):
        assert [e.key for e in list_source(stores.objects, source, key)] == listed[index + 1 :]
    assert [e.key for e in list_source(stores.objects, source, "a/")] == listed[2:]
