"""Points read with their vectors and written back: the copy is the ingested items, bit for bit,
addressable by the same item ids; vectors that are not the collection's are refused."""

from __future__ import annotations

import numpy as np
import pytest

from mmsearch.api.schemas.points import PointsUpsert
from mmsearch.api.services.points import read_points, unit_vector, write_points
from mmsearch.infra.catalog.points import item_point_id
from mmsearch.infra.errors import InvalidRequest
from mmsearch.infra.vectors import CollectionSpec, EdgeVectorStore
from tests.unit.services.conftest import AddPhotos, MakeCollection


def test_a_copy_through_the_points_is_the_source_bit_for_bit(
    vectors: EdgeVectorStore,
    photos: CollectionSpec,
    add_photos: AddPhotos,
    make_collection: MakeCollection,
) -> None:
    add_photos([1, 2, 3, 4, 5], captions=True)
    add_photos([6, 7], tenant="a")
    copy = make_collection("copy")
    cursor, pages = None, 0
    while True:
        page = read_points(vectors, "photos", after=cursor, limit=3)
        body = {"points": [point.model_dump(exclude_none=True) for point in page.data]}
        write_points(vectors, "copy", PointsUpsert.model_validate(body))
        cursor, pages = page.next, pages + 1
        if cursor is None:
            break
    assert pages == 3 and vectors.count("copy") == 7
    for item_id, tenant in [("p1", None), ("p5", None), ("p6", "a")]:
        [source] = vectors.retrieve("photos", [item_point_id(photos, item_id, tenant)], True)
        [copied] = vectors.retrieve("copy", [item_point_id(copy, item_id, tenant)], True)
        assert copied.payload == source.payload
        assert sorted(copied.vectors) == sorted(source.vectors)
        for name, vector in source.vectors.items():
            assert np.array_equal(copied.vectors[name], vector), (item_id, name)


def test_a_tenant_reads_its_own_and_writes_under_its_own_name(
    vectors: EdgeVectorStore, add_photos: AddPhotos, make_collection: MakeCollection
) -> None:
    add_photos([1, 2])
    add_photos([3], tenant="a")
    page = read_points(vectors, "photos", tenant="a")
    assert [(p.id, p.tenant) for p in page.data] == [("p3", "a")] and page.next is None
    copy = make_collection("copy")
    mine = page.data[0].model_dump(exclude={"tenant"})
    write_points(vectors, "copy", PointsUpsert.model_validate({"points": [mine]}), tenant="b")
    [point] = vectors.retrieve("copy", [item_point_id(copy, "p3", "b")])
    assert point.payload["tenant"] == "b"
    other = PointsUpsert.model_validate({"points": [{**mine, "tenant": "a"}]})
    with pytest.raises(InvalidRequest):
        write_points(vectors, "copy", other, tenant="b")


def test_written_metadata_takes_the_declared_types(
    vectors: EdgeVectorStore, photos: CollectionSpec
) -> None:
    vector = np.eye(photos.dim, dtype=np.float32)[0].tolist()
    point = {
        "id": "x",
        "uri": "s3://b/x.jpg",
        "metadata": {"n": "14"},
        "vectors": {"image": vector},
    }
    write_points(vectors, "photos", PointsUpsert.model_validate({"points": [point]}))
    [stored] = vectors.retrieve("photos", [item_point_id(photos, "x")])
    assert stored.payload["metadata"] == {"n": 14}
    bad = {**point, "metadata": {"n": "fourteen"}}
    with pytest.raises(InvalidRequest) as refused:
        write_points(vectors, "photos", PointsUpsert.model_validate({"points": [point, bad]}))
    assert refused.value.details[0]["field"] == "points.1.metadata.n"


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ([0.6, 0.8, 0.0], "3 numbers"),
        ([float("nan"), 1.0], "finite"),
        ([float("inf"), 0.0], "finite"),
        ([1e308, 1e308], "finite"),
        ([1e39, 0.0], "finite"),
        ([0.0, 0.0], "unit length"),
        ([1.2, 1.6], "unit length"),
    ],
)
def test_a_vector_that_is_not_a_unit_vector_of_the_dimension_is_refused(
    values: list[float], problem: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        unit_vector(values, 2, "image")
    assert problem in refused.value.message
    assert refused.value.details == [{"field": "vectors.image", "message": refused.value.message}]


def test_a_nearly_unit_vector_is_normalised_and_a_unit_one_kept_exactly() -> None:
    near = unit_vector([0.603, 0.804], 2, "image")
    assert near.dtype == np.float32 and abs(float(np.linalg.norm(near)) - 1) < 1e-6
    exact = np.asarray([0.6, 0.8], dtype=np.float32)
    assert np.array_equal(unit_vector(exact.tolist(), 2, "image"), exact)


def test_video_frames_go_through_the_points_as_one_video(
    vectors: EdgeVectorStore, photos: CollectionSpec, make_collection: MakeCollection
) -> None:
    """Frames written with their place in the video are one video item where they land."""
    from mmsearch.api.services.items import delete_item, get_item

    unit = np.zeros(photos.dim, dtype=np.float32)
    frames = []
    for index, t in enumerate([0.0, 2.0, 4.5]):
        unit[:] = 0
        unit[index] = 1.0
        frames.append(
            {
                "id": "walk",
                "uri": "s3://b/walk.mp4",
                "vectors": {"image": unit.tolist()},
                "video": {"id": "walk", "t": t, "duration_s": 6.0, "index": index},
            }
        )
    write_points(vectors, "photos", PointsUpsert.model_validate({"points": frames}))
    assert vectors.count("photos") == 3
    assert get_item(vectors, "photos", "walk").video.frames == 3  # type: ignore[union-attr]
    page = read_points(vectors, "photos", with_vectors=False)
    assert sorted((p.video.t, p.video.index) for p in page.data if p.video) == [
        (0.0, 0),
        (2.0, 1),
        (4.5, 2),
    ]
    copy = make_collection("copy")
    body = {
        "points": [p.model_dump(exclude_none=True) for p in read_points(vectors, "photos").data]
    }
    write_points(vectors, "copy", PointsUpsert.model_validate(body))
    assert vectors.count(copy.name) == 3
    assert delete_item(vectors, "copy", "walk").deleted == 1 and vectors.count("copy") == 0
    bad = {**frames[0], "video": {"id": "another", "t": 0.0}}
    with pytest.raises(InvalidRequest) as caught:
        write_points(vectors, "photos", PointsUpsert.model_validate({"points": [bad]}))
    assert caught.value.details == [{"field": "points.0.video.id", "message": "not the point's id"}]
