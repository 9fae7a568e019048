"""A batch whose collection's model cannot be loaded on this worker fails its items with the
cause (embed_failed), not as an internal error with a traceback."""

from __future__ import annotations

import pytest

from mmsearch.infra.errors import ItemErrorCode
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.vectors import CollectionSpec
from tests.unit.pipeline.conftest import Stores

OFFLINE_MODEL = "RN101/openai"  # HF_HUB_OFFLINE in tests, and no weights in the cache


def test_a_model_that_cannot_be_loaded_fails_the_items_with_its_cause(
    stores: Stores, caplog: pytest.LogCaptureFixture
) -> None:
    stores.vectors.create_collection(CollectionSpec("offline", 1024, OFFLINE_MODEL))
    photos = generated_photos(2)
    items = [{"uri": stores.put(p.name, p.data)} for p in photos]
    job = stores.jobs.create("offline", len(items))

    outcome = stores.run(job, "b0", items, collection="offline")

    assert [f.code for f in outcome.failures] == [ItemErrorCode.EMBED_FAILED] * 2
    assert all("offline" in f.message for f in outcome.failures)
    assert stores.jobs.get(job).failed == 2
    assert not [r for r in caplog.records if r.exc_info]  # an expected condition: no traceback
