"""Exported Hugging Face models (ONNX Runtime, OpenVINO) against the torch model they come from:
the tokens, the pixels, the vectors; folders of saved models named by their files; and the
models whose export is refused, with the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mmsearch.encoders import ModelUnavailable, get_encoder, parse_model_name
from mmsearch.encoders.export_cache import export_folder, load_exported
from mmsearch.encoders.exported import ExportedEncoder
from mmsearch.encoders.hf_backend import HFEncoder
from mmsearch.encoders.runtimes import EncoderRuntime
from mmsearch.encoders.tokenize import TextTokenizer
from mmsearch.infra.testing.photos import decode, generated_photos
from tests.unit.test_exported import TEXTS, assert_pixels_give_image_vectors

pytest.importorskip("transformers")

FIDELITY = 0.9999
TINY = ["hf:tiny-clip/random:5", "hf:tiny-siglip/random:5"]


@pytest.fixture(scope="module")
def export_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hf-exports")


def _images() -> list[Image.Image]:
    photos = [decode(p.data) for p in generated_photos(6)]
    return [*photos, photos[0].resize((301, 40)), photos[1].resize((17, 230)).convert("L")]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


@pytest.mark.parametrize(
    ("name", "runtime"), [(TINY[0], "openvino"), (TINY[1], "onnx")], ids=["clip", "siglip"]
)
def test_exported_vectors_equal_torch(name: str, runtime: str, export_root: Path) -> None:
    torch_encoder = get_encoder(name)
    assert isinstance(torch_encoder, HFEncoder)
    exported = get_encoder(name, runtime=EncoderRuntime(runtime, "fp32", export_root))
    assert isinstance(exported, ExportedEncoder)
    assert (exported.dim, exported.logit_scale, exported.logit_bias) == pytest.approx(
        (torch_encoder.dim, torch_encoder.logit_scale, torch_encoder.logit_bias)
    )
    got_texts, want_texts = exported.embed_texts(TEXTS), torch_encoder.embed_texts(TEXTS)
    assert _cosines(got_texts, want_texts).min() >= FIDELITY
    for text in TEXTS[:4]:  # one at a time: a CLIP query runs on its own tokens
        single = _cosines(exported.embed_texts([text]), torch_encoder.embed_texts([text]))
        assert single.min() >= FIDELITY
    images = _images()
    got, want = exported.embed_images(images), torch_encoder.embed_images(images)
    assert _cosines(got, want).min() >= FIDELITY and np.abs(got - want).max() <= 1e-4
    assert exported.image_prep == torch_encoder.image_prep
    assert_pixels_give_image_vectors(exported, images)


@pytest.mark.parametrize("name", TINY)
def test_tokens_and_pooling_of_the_export(name: str, export_root: Path) -> None:
    torch_encoder = get_encoder(name)
    assert isinstance(torch_encoder, HFEncoder)
    folder = export_folder(parse_model_name(name), export_root)
    get_encoder(name, runtime=EncoderRuntime("onnx", "fp32", export_root), text_only=True)
    context = torch_encoder.context_length
    ours = TextTokenizer(folder / "textual", context_length=context, clean="none")(TEXTS)
    theirs = torch_encoder.tokenizer(
        TEXTS, padding="max_length", truncation=True, max_length=context
    )["input_ids"]
    np.testing.assert_array_equal(ours, np.asarray(theirs))
    config = json.loads((folder / "config.json").read_text())["mmsearch"]
    if torch_encoder.model_type == "clip":  # causal: queries are cut after their end token
        assert config["text_pool"] == "eos"
        assert config["eos_id"] == torch_encoder.tokenizer.eos_token_id
    else:  # every position counts
        assert "text_pool" not in config
    assert config["made_with"]["transformers"] != "-"


def _load(name: str, root: Path, load_torch: Any, text_only: bool = False) -> ExportedEncoder:
    return load_exported(
        parse_model_name(name),
        runtime="onnx",
        precision="fp32",
        device="cpu",
        root=root,
        text_only=text_only,
        load_torch=load_torch,
    )


def test_a_saved_model_folder_is_exported_once_and_named_by_its_files(tmp_path: Path) -> None:
    saved = get_encoder("hf:tiny-clip/random:8")
    assert isinstance(saved, HFEncoder)
    directory = saved.save_pretrained(tmp_path / "my-clip")
    name = f"hf:local/file:{directory}"
    runtime = EncoderRuntime("openvino", "fp32", tmp_path / "exports")
    exported = get_encoder(name, runtime=runtime)
    assert isinstance(exported, ExportedEncoder)
    assert _cosines(exported.embed_texts(TEXTS), saved.embed_texts(TEXTS)).min() >= FIDELITY
    first = exported.folder
    stamp = (first / "visual" / "model.onnx").stat().st_mtime_ns

    def no_torch(_: bool) -> Any:
        raise AssertionError("an export in the cache must not load the torch model")

    again = _load(name, tmp_path / "exports", no_torch)
    assert again.folder == first and (first / "visual" / "model.onnx").stat().st_mtime_ns == stamp
    other = get_encoder("hf:tiny-clip/random:9")
    assert isinstance(other, HFEncoder)
    other.save_pretrained(directory)  # new weights in the same folder: a new export
    ref = parse_model_name(name)
    moved = export_folder(ref, tmp_path / "exports")
    assert moved != first
    fresh = _load(
        name, tmp_path / "exports", lambda text_only: HFEncoder(ref, "cpu", None, text_only), True
    )
    assert fresh.folder == moved
    assert _cosines(fresh.embed_texts(TEXTS), other.embed_texts(TEXTS)).min() >= FIDELITY


def test_an_image_processor_it_cannot_run_refuses_the_image_tower_only(tmp_path: Path) -> None:
    saved = get_encoder("hf:tiny-siglip/random:6")
    assert isinstance(saved, HFEncoder)
    directory = saved.save_pretrained(tmp_path / "nearest")
    settings = json.loads((directory / "preprocessor_config.json").read_text())
    (directory / "preprocessor_config.json").write_text(json.dumps({**settings, "resample": 0}))
    name = f"hf:local/file:{directory}"
    on_torch = get_encoder(name)
    assert on_torch.image_prep is None  # its own processor runs, on the fetch threads
    assert on_torch.embed_images(_images()[:2]).shape == (2, saved.dim)
    runtime = EncoderRuntime("onnx", "fp32", tmp_path / "exports")
    with pytest.raises(ModelUnavailable, match="cannot be run without torch.*resample"):
        get_encoder(name, runtime=runtime)
    text_only = get_encoder(name, runtime=runtime, text_only=True)
    assert _cosines(text_only.embed_texts(TEXTS), saved.embed_texts(TEXTS)).min() >= FIDELITY


def test_int8_of_an_hf_export(tmp_path: Path) -> None:
    """(The image tower's int8 is the same code for every backend: test_exported.py.)"""
    runtime = EncoderRuntime("onnx", "int8", tmp_path)
    encoder = get_encoder("hf:tiny-siglip/random:7", runtime=runtime, text_only=True)
    assert isinstance(encoder, ExportedEncoder)
    report = json.loads((encoder.folder / "int8.json").read_text())
    assert "textual" in report and report["textual"]["cosine_mean"] > 0.95
    torch_encoder = get_encoder("hf:tiny-siglip/random:7")
    assert _cosines(encoder.embed_texts(TEXTS), torch_encoder.embed_texts(TEXTS)).mean() > 0.95
