"""Zero-shot classification: the probabilities are the softmax of the model's scaled cosine
similarities, computed here on the encoder directly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmsearch.api.schemas.queries import ClassifyRequest, ClassifyResponse
from mmsearch.api.services.classify import classify
from mmsearch.encoders import Encoder, get_encoder
from mmsearch.infra.errors import CollectionNotFound, ModelNotAllowed
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.settings import Settings
from mmsearch.infra.vectors import EdgeVectorStore
from tests.fixtures.images import generated_jpeg
from tests.unit.services.conftest import OTHER_MODEL, MakeCollection, RecordingLoader, decoded

LABELS = ["a cat", "a dog", "a red car", "a beach"]
PICTURE = generated_jpeg(11)

Run = Callable[[dict[str, Any]], ClassifyResponse]


@pytest.fixture()
def run(
    vectors: EdgeVectorStore,
    load: RecordingLoader,
    objects: ObjectStore,
    settings: Settings,
    file_root: Path,
) -> Run:
    """classify on the test's stores; the picture is at file://ROOT/query.jpg and uploaded as
    `file`."""
    (file_root / "query.jpg").write_bytes(PICTURE)

    def call(body: dict[str, Any]) -> ClassifyResponse:
        request = ClassifyRequest.model_validate({"labels": LABELS, **body})
        return classify(vectors, load, objects, settings, request, {"file": PICTURE})

    return call


def zero_shot(encoder: Encoder, template: str) -> dict[str, float]:
    """Label → probability, from the encoder's own embeddings and temperature."""
    picture = encoder.embed_images([decoded(PICTURE)])[0]
    prompts = encoder.embed_texts([template.replace("{}", label) for label in LABELS])
    logits = encoder.logit_scale * (prompts @ picture)
    weights = np.exp(logits - logits.max())
    return dict(zip(LABELS, weights / weights.sum(), strict=True))


def assert_ranked(got: ClassifyResponse, want: dict[str, float]) -> None:
    assert [s.label for s in got.labels] == sorted(want, key=lambda label: -want[label])
    assert np.allclose([s.probability for s in got.labels], [want[s.label] for s in got.labels])


def test_probabilities_equal_the_zero_shot_maths(
    run: Run, load: RecordingLoader, settings: Settings, encoder: Encoder, file_root: Path
) -> None:
    got = run({"image": {"uri": f"file://{file_root}/query.jpg"}})
    assert got.model == encoder.name and load.asked == [settings.default_model]
    assert_ranked(got, zero_shot(encoder, "a photo of {}"))


def test_a_collection_classifies_with_its_own_model(
    run: Run, make_collection: MakeCollection
) -> None:
    make_collection("other", OTHER_MODEL)
    template = "an image of {}, probably"
    got = run({"collection": "other", "image": {"upload": "file"}, "prompt_template": template})
    assert got.model == OTHER_MODEL
    assert_ranked(got, zero_shot(get_encoder(OTHER_MODEL, device="cpu"), template))


def test_a_model_outside_the_list_or_an_unknown_collection_is_refused(
    run: Run, load: RecordingLoader
) -> None:
    with pytest.raises(ModelNotAllowed):
        run({"model": "ViT-B-32/openai", "image": {"upload": "file"}})
    assert load.asked == []
    with pytest.raises(CollectionNotFound):
        run({"collection": "nowhere", "image": {"upload": "file"}})
