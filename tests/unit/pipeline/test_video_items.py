"""Video items through the ingest pipeline (real Redis and engine, media through file://): the
frames of one take, replaced whole by the next ingest of the same id."""

from __future__ import annotations

from mmsearch.infra.catalog.payload import ItemPayload
from mmsearch.infra.testing.photos import decode, generated_photos
from mmsearch.infra.testing.videos import scenes_video
from tests.unit.pipeline.conftest import COLLECTION, Stores

PICTURES = [decode(p.data) for p in generated_photos(6)]


def _frames(stores: Stores) -> list[tuple[str, float | None]]:
    found = []
    for point in stores.points():
        item = ItemPayload.from_payload(point.payload)
        found.append((item.uri.rsplit("/", 1)[-1], item.video.t if item.video else None))
    return sorted(found, key=lambda x: (x[0], x[1] or 0.0))


def test_a_video_then_an_image_under_its_id_leaves_no_frame(stores: Stores) -> None:
    video = stores.put("walk.mp4", scenes_video(PICTURES[:3], size=(160, 120)))
    job = stores.jobs.create(COLLECTION, 1)
    outcome = stores.run(job, "b0", [{"uri": video, "id": "v"}])
    assert (outcome.succeeded, outcome.videos, outcome.frames) == (1, 1, 3)
    assert _frames(stores) == [("walk.mp4", 0.0), ("walk.mp4", 2.0), ("walk.mp4", 4.0)]
    image = stores.put("still.jpg", generated_photos(7)[6].data)
    again = stores.jobs.create(COLLECTION, 1)
    assert stores.run(again, "b0", [{"uri": image, "id": "v"}]).succeeded == 1
    assert _frames(stores) == [("still.jpg", None)]


def test_one_take_of_a_video_named_twice_in_a_batch(stores: Stores) -> None:
    first = stores.put("first.mp4", scenes_video(PICTURES[:3], size=(160, 120)))
    second = stores.put("second.mkv", scenes_video(PICTURES[3:5], size=(160, 120), kind="mkv"))
    job = stores.jobs.create(COLLECTION, 2)
    items = [{"uri": first, "id": "v"}, {"uri": second, "id": "v"}]
    outcome = stores.run(job, "b0", items)
    assert (outcome.succeeded, outcome.videos, outcome.frames, outcome.failures) == (2, 2, 2, [])
    assert _frames(stores) == [("second.mkv", 0.0), ("second.mkv", 2.0)]
    assert stores.jobs.get(job).pending == 0
