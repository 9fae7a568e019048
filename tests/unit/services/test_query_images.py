"""Query images: a pixel budget of their own (below the ingest limit), decoded small, and a
bounded number decoded at once."""

from __future__ import annotations

import base64
import threading

import numpy as np
import pytest
from PIL import Image

from mmsearch.api.schemas.queries import ImageRef
from mmsearch.api.services.query import decode_slots, embed_image
from mmsearch.encoders import Encoder
from mmsearch.infra.errors import ItemError
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.settings import Settings
from tests.fixtures.images import png_bomb
from tests.unit.test_images import encode, gradient


def as_base64(data: bytes) -> ImageRef:
    return ImageRef(base64=base64.b64encode(data).decode())


def test_query_images_have_a_smaller_pixel_budget_than_ingest(
    objects: ObjectStore, settings: Settings, encoder: Encoder
) -> None:
    data = png_bomb(5000, 4000)  # 20 megapixels in a few kilobytes
    assert 20_000_000 < settings.max_image_pixels  # ingest would take it...
    with pytest.raises(ItemError) as refused:  # ...a query does not
        embed_image(objects, settings, encoder, as_base64(data), {})
    assert refused.value.code == "too_large"
    roomy = settings.model_copy(update={"query_max_image_pixels": 20_000_000})
    vector = embed_image(objects, roomy, encoder, as_base64(data), {})
    assert vector.shape == (encoder.dim,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5


def test_a_large_query_png_embeds_like_its_reduced_decode(
    objects: ObjectStore, settings: Settings, encoder: Encoder
) -> None:
    source = gradient(3000, 2000)
    got = embed_image(objects, settings, encoder, as_base64(encode(source, "PNG")), {})
    reduced = source.reduce(3)  # the shorter side stays at least decode_min_side (512)
    assert min(reduced.size) >= settings.decode_min_side
    np.testing.assert_allclose(got, encoder.embed_images([reduced])[0], atol=1e-5)


def test_query_decodes_wait_for_a_free_slot(
    objects: ObjectStore, settings: Settings, encoder: Encoder
) -> None:
    one = settings.model_copy(update={"query_decode_concurrency": 1})
    data = encode(Image.new("RGB", (64, 48), (200, 10, 10)), "PNG")
    done = threading.Event()

    def query() -> None:
        embed_image(objects, one, encoder, as_base64(data), {})
        done.set()

    slots = decode_slots(1)
    with slots:  # every decode slot is taken
        worker = threading.Thread(target=query)
        worker.start()
        assert not done.wait(0.5)
    assert done.wait(30)
    worker.join()
