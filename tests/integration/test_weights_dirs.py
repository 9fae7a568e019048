"""Weights files load only from MMSEARCH_WEIGHTS_DIRS: a collection whose weights lie outside
them (the folders were narrowed) is refused as any unlisted model is, 422 `model_not_allowed`,
with the same answer whether the file is still there or not."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from PIL import Image

from mmsearch.api.app import create_app
from mmsearch.encoders import get_encoder
from mmsearch.infra.settings import Settings


def classify_body(**fields: Any) -> dict[str, Any]:
    png = io.BytesIO()
    Image.new("RGB", (32, 32), "blue").save(png, format="PNG")
    return {"image": {"base64": base64.b64encode(png.getvalue()).decode()}, "labels": ["a", "b"]}


def refusal(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.get_data(as_text=True)
    error: dict[str, Any] = response.json["error"]
    assert error["code"] == "model_not_allowed"
    return error


def test_weights_outside_the_folders_are_refused(
    private_broker: str, tmp_path: Path, tiny_model: str
) -> None:
    from safetensors.torch import save_file

    old, new = tmp_path / "old-models", tmp_path / "models"
    old.mkdir(), new.mkdir()
    state = get_encoder("mmsearch-tiny/random:23")._model.state_dict()  # type: ignore[attr-defined]
    weights = old / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(weights))
    model = f"mmsearch-tiny/file:{weights}"
    base = {"redis_url": private_broker, "data_dir": tmp_path / "data", "default_model": tiny_model}

    app = create_app(Settings(**base, models=[model], weights_dirs=[str(old), str(new)]))
    client = app.test_client()
    created = client.post("/v1/collections", json={"name": "w", "model": model})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert client.post("/v1/classify", json={**classify_body(), "collection": "w"}).status_code == (
        200
    )
    app.extensions["mmsearch"].close()

    # The operator drops the old folder from the list: collection w still names its file.
    app = create_app(Settings(**base, weights_dirs=[str(new)]))
    client = app.test_client()
    present = refusal(client.post("/v1/classify", json={**classify_body(), "collection": "w"}))
    assert str(old) not in str(present)  # nothing about the server's files
    searched = refusal(client.post("/v1/collections/w/search", json={"text": "a dog"}))
    assert str(old) not in str(searched)
    again = refusal(client.post("/v1/collections", json={"name": "x", "model": model}))
    weights.unlink()
    gone = refusal(client.post("/v1/classify", json={**classify_body(), "collection": "w"}))
    assert gone == present and again["message"] == present["message"]
    assert client.post("/v1/classify", json=classify_body()).status_code == 200
    app.extensions["mmsearch"].close()
