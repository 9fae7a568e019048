"""An API process without image queries loads text towers only and still answers text search."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from mmsearch.api.app import create_app
from mmsearch.encoders import parse_model_name
from mmsearch.encoders.open_clip_backend import OpenClipEncoder
from mmsearch.infra.runtime import Runtime
from mmsearch.infra.settings import Settings
from mmsearch.infra.testing.photos import decode, generated_photos
from mmsearch.infra.vectors import IMAGE_VECTOR, VectorPoint
from mmsearch.workers.items import IngestItem

MODEL = "mmsearch-tiny/random:23"  # loaded nowhere else, so this process loads it text-only


def test_text_only_api(redis_url: str, tmp_path: Path) -> None:
    settings = Settings(
        redis_url=redis_url, data_dir=tmp_path, api_image_queries=False, models=[MODEL]
    )
    app = create_app(settings)
    client = app.test_client()
    runtime: Runtime = app.extensions["mmsearch"]
    created = client.post("/v1/collections", json={"name": "t", "model": MODEL})
    assert created.status_code == 201, created.text
    assert not runtime.encoder(MODEL).has_image_tower

    reference = OpenClipEncoder(parse_model_name(MODEL))  # the full model, outside the registry
    photos = generated_photos(12)
    images = reference.embed_images([decode(p.data) for p in photos])
    items = [IngestItem(uri=f"s3://b/{p.name}", id=p.name) for p in photos]
    runtime.vectors.upsert(
        "t",
        [
            VectorPoint(
                item.point_id(runtime.vectors.spec("t")),
                {IMAGE_VECTOR: vec},
                item.payload().to_payload(),
            )
            for item, vec in zip(items, images, strict=True)
        ],
    )

    found = client.post("/v1/collections/t/search", json={"text": "a red square", "limit": 5})
    assert found.status_code == 200, found.text
    scores = images @ reference.embed_texts(["a red square"])[0]
    want = np.argsort(-scores, kind="stable")[:5]
    assert [h["id"] for h in found.json["results"]] == [photos[i].name for i in want]
    np.testing.assert_allclose([h["score"] for h in found.json["results"]], scores[want], atol=1e-4)

    by_item = client.post("/v1/collections/t/search", json={"item_id": photos[3].name, "limit": 1})
    assert by_item.json["results"][0]["id"] == photos[3].name  # stored vectors need no tower
    image = {"base64": base64.b64encode(photos[0].data).decode()}
    for path, body in [
        ("/v1/collections/t/search", {"image": image}),
        ("/v1/collections/t/search", {"query": [{"text": "x"}, {"image": image}]}),
        ("/v1/classify", {"collection": "t", "image": image, "labels": ["a", "b"]}),
    ]:
        refused = client.post(path, json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json["error"]["code"] == "image_queries_disabled"
    runtime.close()
