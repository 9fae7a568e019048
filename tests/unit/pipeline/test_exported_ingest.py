"""An exported Hugging Face model through the ingest pipeline (feeder processes, real Redis and
engine) and search: the same vectors and rankings as its torch model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from mmsearch.encoders import get_encoder
from mmsearch.encoders.exported import ExportedEncoder
from mmsearch.encoders.runtimes import EncoderRuntime
from mmsearch.infra.media.feeder import Feeder
from mmsearch.infra.testing.photos import decode, generated_photos
from mmsearch.infra.vectors import CollectionSpec
from mmsearch.workers.pipeline import run_batch
from tests.unit.pipeline.conftest import Stores

pytest.importorskip("transformers")

MODEL = "hf:tiny-clip/random:15"
QUERIES = ["a dog running on the grass", "a red car at night", "x"]


def test_an_exported_hf_model_ingests_and_searches_as_torch(stores: Stores, tmp_path: Path) -> None:
    exported = get_encoder(MODEL, runtime=EncoderRuntime("onnx", "fp32", tmp_path / "exports"))
    assert isinstance(exported, ExportedEncoder)
    on_torch = get_encoder(MODEL)
    stores.vectors.create_collection(CollectionSpec("hf", exported.dim, MODEL))
    feeder = Feeder(stores.settings, 2)
    stores.media = dataclasses.replace(stores.media, feeder=feeder)
    photos = generated_photos(16)
    items = [{"uri": stores.put(p.name, p.data), "id": p.name} for p in photos]
    try:
        job = stores.jobs.create("hf", len(items))
        outcome = run_batch(
            stores.jobs, stores.vectors, stores.media, lambda _: exported, job, "hf", "b0", items
        )
    finally:
        feeder.close()
    assert (outcome.succeeded, outcome.failures) == (16, [])
    stored = {p.payload["id"]: p.vectors["image"] for p in stores.points("hf")}
    want = on_torch.embed_images([decode(p.data) for p in photos])
    got = np.stack([stored[p.name] for p in photos])
    assert (got * want).sum(axis=1).min() >= 0.9999
    for text in QUERIES:
        query = exported.embed_texts([text])[0]
        hits = stores.vectors.search("hf", query, limit=5)
        scores = want @ on_torch.embed_texts([text])[0]
        order = sorted(range(len(photos)), key=lambda i: (-scores[i], photos[i].name))[:5]
        assert [hit.payload["id"] for hit in hits] == [photos[i].name for i in order]
        np.testing.assert_allclose([h.score for h in hits], scores[order], atol=1e-4)
