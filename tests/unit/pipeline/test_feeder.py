"""The feeder: images loaded in processes of their own give the encoder's own vectors, and a
process that dies loses no item and indexes none twice."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mmsearch.infra.errors import ItemErrorCode
from mmsearch.infra.media.feeder import CRASHED, Feeder, LoadOne, default_processes, load_one
from mmsearch.infra.runtime import Runtime
from mmsearch.infra.settings import Settings
from mmsearch.infra.testing.photos import generated_photos
from tests.fixtures.images import truncated_jpeg
from tests.unit.pipeline.conftest import COLLECTION, Stores
from tests.unit.pipeline.feeding import crashing_load, process_load, slow_load


def feeding(stores: Stores, load: LoadOne = load_one, processes: int = 2) -> Feeder:
    """Make the stores' pipeline load through a feeder of its own."""
    feeder = Feeder(stores.settings, processes, load)
    stores.media = dataclasses.replace(stores.media, feeder=feeder)
    return feeder


@pytest.fixture()
def feeder_of(stores: Stores) -> Iterator[list[Feeder]]:
    made: list[Feeder] = []
    yield made
    for feeder in made:
        feeder.close()


def hear(caplog: pytest.LogCaptureFixture, name: str) -> None:
    """Capture a module's warnings whatever logging setup an earlier test left behind."""
    caplog.set_level(logging.WARNING, logger=name)
    logging.getLogger(name).disabled = False
    logging.getLogger(name).propagate = True


def put_photos(stores: Stores, names: list[str]) -> tuple[list[dict[str, str]], list[bytes]]:
    photos = generated_photos(len(names))
    items = [
        {"uri": stores.put(name, p.data), "id": name} for name, p in zip(names, photos, strict=True)
    ]
    return items, [p.data for p in photos]


def vectors_by_id(stores: Stores) -> dict[str, np.ndarray]:
    return {p.payload["id"]: p.vectors["image"] for p in stores.points()}


def test_images_loaded_by_feeder_processes_get_the_encoders_own_vectors(
    stores: Stores, feeder_of: list[Feeder]
) -> None:
    feeder_of.append(feeding(stores))
    names = [f"p{i:02d}.jpg" for i in range(20)]
    items, images = put_photos(stores, names)
    items.insert(5, {"uri": stores.put("bad.jpg", truncated_jpeg()), "id": "bad"})
    items.insert(9, {"uri": stores.put("text.jpg", b"not an image"), "id": "text"})
    items.append({"uri": f"{items[0]['uri']}.missing", "id": "missing"})
    job = stores.jobs.create(COLLECTION, len(items))

    outcome = stores.run(job, "b0", items)

    assert outcome.succeeded == 20
    codes = {f.uri.rsplit("/", 1)[-1]: f.code for f in outcome.failures}
    assert codes == {
        "bad.jpg": ItemErrorCode.CORRUPT_IMAGE,
        "text.jpg": ItemErrorCode.NOT_AN_IMAGE,
        "p00.jpg.missing": ItemErrorCode.NOT_FOUND,
    }
    got = vectors_by_id(stores)
    assert sorted(got) == sorted(names)
    for name, data in zip(names, images, strict=True):
        np.testing.assert_allclose(got[name], stores.image_vector(data), atol=1e-5)


def test_feeder_processes_are_others_and_carry_no_model_libraries(
    stores: Stores, feeder_of: list[Feeder]
) -> None:
    feeder = feeding(stores, process_load)
    feeder_of.append(feeder)
    prep = stores.encoder.image_prep
    assert prep is not None
    refs = [stores.objects.parse(stores.put(f"x{i}.jpg", b"x")) for i in range(40)]

    loaded = list(feeder.stream(refs, prep))

    assert len(loaded) == 40
    for value in (got.value for got in loaded):
        pid, parent, heavy = value
        assert pid != os.getpid() and parent != os.getpid()  # started by the fork server
        assert heavy == []
    assert feeder_pids()
    feeder.close()  # ends them at once: a stopping worker does not wait on them
    deadline = time.monotonic() + 10
    while feeder_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not feeder_pids()


def test_an_item_that_kills_its_process_is_recorded_and_the_others_are_indexed_once(
    stores: Stores, feeder_of: list[Feeder]
) -> None:
    feeder_of.append(feeding(stores, crashing_load))
    names = [f"p{i:02d}.jpg" for i in range(12)]
    names[4] = "crash-4.jpg"
    items, images = put_photos(stores, names)
    job = stores.jobs.create(COLLECTION, len(items))

    outcome = stores.run(job, "b0", items)

    assert outcome.succeeded == 11
    assert [(f.uri.rsplit("/", 1)[-1], f.code, f.message) for f in outcome.failures] == [
        ("crash-4.jpg", ItemErrorCode.CORRUPT_IMAGE, CRASHED)
    ]
    got = vectors_by_id(stores)
    assert sorted(got) == sorted(n for n in names if n != "crash-4.jpg")
    for name, data in zip(names, images, strict=True):
        if name in got:
            np.testing.assert_allclose(got[name], stores.image_vector(data), atol=1e-5)
    # the feeder goes on with new processes
    more, _ = put_photos(stores, ["after.jpg"])
    assert stores.run(job, "b1", more).succeeded == 1


def feeder_pids() -> list[int]:
    """This process's feeder processes (children of its fork server)."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        try:
            comm = (entry / "comm").read_text().strip()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            grandparent = int((Path("/proc") / str(parent) / "stat").read_text().split()[3])
        except (OSError, ValueError, IndexError):
            continue
        if comm == "mmsearch-feed" and grandparent == me:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/comm").exists(), reason="needs Linux /proc")
def test_a_feeder_process_killed_mid_batch_loses_no_item(
    stores: Stores, feeder_of: list[Feeder], caplog: pytest.LogCaptureFixture
) -> None:
    hear(caplog, "mmsearch.infra.media.feeder")
    feeder_of.append(feeding(stores, slow_load))
    names = [f"p{i:02d}.jpg" for i in range(24)]
    items, images = put_photos(stores, names)
    job = stores.jobs.create(COLLECTION, len(items))
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 20
        while not killed and time.monotonic() < deadline:
            pids = feeder_pids()
            if pids:
                time.sleep(0.1)  # mid-chunk: each item takes 0.2 s
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    outcome = stores.run(job, "b0", items)
    killer.join()

    assert killed, "no feeder process was seen"
    assert "a feeder process died" in caplog.text  # the kill landed while it worked
    assert (outcome.succeeded, outcome.failures) == (24, [])  # not blamed on an item
    got = vectors_by_id(stores)
    assert sorted(got) == names
    for name, data in zip(names, images, strict=True):
        np.testing.assert_allclose(got[name], stores.image_vector(data), atol=1e-5)


def test_the_runtime_feeder_follows_settings_and_closes_with_it(tmp_path: Path) -> None:
    assert Runtime(Settings(data_dir=tmp_path, feed_processes=0)).feeder is None
    runtime = Runtime(Settings(data_dir=tmp_path, fetch_concurrency=5, feed_processes=2))
    feeder = runtime.feeder
    assert feeder is not None and runtime.feeder is feeder
    assert (feeder.processes, feeder.chunk) == (2, 3)
    runtime.close()
    assert runtime.feeder is not feeder  # a runtime used after close starts a new one
    runtime.close()
    default = Runtime(Settings(data_dir=tmp_path)).feeder
    assert default is not None and default.processes == default_processes()


def test_a_closed_feeder_leaves_its_batches_to_the_fetch_threads(
    stores: Stores, feeder_of: list[Feeder], caplog: pytest.LogCaptureFixture
) -> None:
    hear(caplog, "mmsearch.workers.media")
    feeder = feeding(stores)
    feeder_of.append(feeder)
    feeder.close()
    names = [f"p{i:02d}.jpg" for i in range(10)]
    items, images = put_photos(stores, names)
    job = stores.jobs.create(COLLECTION, len(items))

    outcome = stores.run(job, "b0", items)

    assert (outcome.succeeded, outcome.failures) == (10, [])
    assert "feeder unavailable" in caplog.text
    got = vectors_by_id(stores)
    for name, data in zip(names, images, strict=True):
        np.testing.assert_allclose(got[name], stores.image_vector(data), atol=1e-5)
