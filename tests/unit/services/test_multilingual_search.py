"""A collection of a multilingual model answers a query in any language with the ranking of the
model's own vector for it (the query encoded once, by the platform's text path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmsearch.api.schemas.queries import SearchRequest
from mmsearch.api.schemas.resources import CollectionCreate
from mmsearch.api.services.collections import create_collection
from mmsearch.api.services.query import QueryStores
from mmsearch.api.services.search import search
from mmsearch.encoders import get_encoder
from mmsearch.encoders.text_queries import TextQueryCache
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors import EdgeVectorStore
from tests.unit.services.conftest import RecordingLoader, index_items

XLMR = "mmsearch-tiny-xlmr/random"


@pytest.mark.parametrize("query", ["Hunde am Strand", "chiens sur la plage", "海滩上的狗"])
def test_queries_in_any_language_rank_as_the_model_does(
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    texts: TextQueryCache,
    objects: ObjectStore,
    settings: Settings,
    file_root: Path,
    query: str,
) -> None:
    allowing = settings.model_copy(update={"models": [XLMR]})
    body = CollectionCreate.model_validate({"name": "world", "model": XLMR})
    create_collection(vectors, load, allowing.allowed_models, allowing.default_model, body)
    encoder = get_encoder(XLMR, device="cpu")
    index_items(vectors, encoder, vectors.spec("world"), file_root, range(10), captions=True)
    stores = QueryStores(vectors, load, texts, objects, allowing)
    for mode in ("image", "text"):
        request = SearchRequest.model_validate({"text": query, "mode": mode, "limit": 10})
        got = search(stores, "world", request, {}).results
        want = vectors.search("world", encoder.embed_texts([query])[0], using=mode, limit=10)
        assert [h.id for h in got] == [h.payload["id"] for h in want]
        np.testing.assert_allclose([h.score for h in got], [h.score for h in want], atol=1e-6)
    assert load.asked == [XLMR, XLMR, XLMR]
