"""Only listed models are loaded on a client's request: MMSEARCH_MODELS, the default model and
the models of existing collections; any other name is refused before anything is loaded."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from PIL import Image

from mmsearch.api.app import create_app
from mmsearch.encoders import loaded_encoders
from mmsearch.infra.settings import Settings

LISTED = "mmsearch-tiny/random:41"
NEVER = "mmsearch-tiny/random:42"  # a valid model that no list names: it must never load
NO_BACKEND = "nosuch:arch/weights"


def loaded() -> set[str]:
    return {encoder.name for encoder in loaded_encoders()}


def code_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    return str(response.json["error"]["code"])


def classify_body(**fields: Any) -> dict[str, Any]:
    png = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(png, format="PNG")
    image = {"base64": base64.b64encode(png.getvalue()).decode()}
    return {"image": image, "labels": ["a dog", "a cat"], **fields}


def test_models_outside_the_list_are_refused_before_loading(
    private_broker: str, tmp_path: Path, tiny_model: str
) -> None:
    base = {"redis_url": private_broker, "data_dir": tmp_path, "default_model": tiny_model}
    app = create_app(Settings(**base, models=[LISTED, NO_BACKEND]))
    client = app.test_client()
    assert client.post("/v1/collections", json={"name": "a"}).status_code == 201

    refused = client.post("/v1/collections", json={"name": "b", "model": NEVER})
    assert code_of(refused, 422) == "model_not_allowed"
    assert tiny_model in refused.json["error"]["details"]["allowed"]
    assert code_of(client.post("/v1/classify", json=classify_body(model=NEVER)), 422) == (
        "model_not_allowed"
    )
    again = client.post("/v1/collections/a/reembed", json={"model": NEVER})
    assert code_of(again, 422) == "model_not_allowed"
    assert [v["version"] for v in client.get("/v1/collections/a/versions").json["data"]] == [
        "a--v1"
    ]
    assert code_of(client.post("/v1/collections", json={"name": "b", "model": "nope"}), 422) == (
        "model_not_allowed"  # not allowed comes first, whatever the name is
    )
    no_backend = client.post("/v1/collections", json={"name": "b", "model": NO_BACKEND})
    assert code_of(no_backend, 422) == "unknown_model"  # allowed, but no backend builds it
    assert client.get("/v1/collections").json["count"] == 1
    assert NEVER not in loaded()

    created = client.post("/v1/collections", json={"name": "b", "model": LISTED})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert LISTED in loaded()
    app.extensions["mmsearch"].close()

    # The list no longer names LISTED: collection b still uses it, so it stays allowed.
    app = create_app(Settings(**base))
    client = app.test_client()
    classified = client.post("/v1/classify", json=classify_body(model=LISTED))
    assert classified.status_code == 200 and classified.json["model"] == LISTED
    assert client.post("/v1/classify", json=classify_body(collection="b")).status_code == 200
    moved = client.post("/v1/collections/a/reembed", json={"model": LISTED})
    assert moved.status_code == 202, moved.get_data(as_text=True)
    assert code_of(client.post("/v1/collections/b/reembed", json={"model": NEVER}), 422) == (
        "model_not_allowed"
    )
    assert NEVER not in loaded()
    app.extensions["mmsearch"].close()
