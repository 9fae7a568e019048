"""Exported towers (ONNX Runtime, OpenVINO) against torch on the same random-weight models: the
tokens, the pixels, the vectors; and the export cache."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from mmsearch.encoders import TINY_TEST_MODEL, ModelUnavailable, get_encoder, parse_model_name
from mmsearch.encoders.export_cache import ensure_export, export_folder, load_exported
from mmsearch.encoders.exported import ExportedEncoder
from mmsearch.encoders.image_prep import ImagePrep
from mmsearch.encoders.runtimes import EncoderRuntime, RuntimeUnsupported
from mmsearch.encoders.tokenize import TextTokenizer
from mmsearch.infra.testing.photos import decode, generated_photos

FIDELITY = 0.9999
TEXTS = [
    "a dog running on a beach",
    "",
    "   lots   of\twhitespace\n\nhere  ",
    "Caf\u00c3\u00a9 au lait &amp; croissants &lt;3",  # mojibake and HTML entities
    "\u72ac\u304c\u6d77\u8fba\u3092\u8d70\u3063\u3066\u3044\u308b \U0001f415\U0001f30a",
    "it's 12:30 and they're OK'd to go!!! ... ???",
    "<end_of_text> inside <start_of_text> the text",
    "MiXeD CaSe Ünïcödé ß ﬁ ligature",
    " ".join(["word"] * 120),  # longer than the context
]


@pytest.fixture(scope="module")
def export_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="module")
def tiny_export(export_root: Path) -> Path:
    ref = parse_model_name(TINY_TEST_MODEL)
    return ensure_export(ref, export_root, ("textual", "visual"), lambda _: get_encoder(ref.name))


def _images() -> list[Image.Image]:
    photos = [decode(p.data) for p in generated_photos(6)]
    return [*photos, photos[0].resize((300, 40)), photos[1].resize((17, 230)).convert("L")]


def test_tokens_equal_open_clip(tiny_export: Path) -> None:
    ours = TextTokenizer(tiny_export / "textual", context_length=77, clean="lower")(TEXTS)
    theirs = open_clip.get_tokenizer("mmsearch-tiny")(TEXTS).numpy()
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "cfg",
    [
        {"size": 64},
        {"size": [48, 80], "interpolation": "bilinear"},
        {"size": 64, "resize_mode": "squash"},
        {"size": 64, "resize_mode": "longest", "fill_color": 128},
    ],
    ids=["shortest", "non-square", "squash", "longest"],
)
def test_pixels_equal_open_clip(cfg: dict[str, Any]) -> None:
    prep = ImagePrep.from_config(cfg)
    transform = open_clip.image_transform(
        tuple(prep.size) if prep.size[0] != prep.size[1] else prep.size[0],
        is_train=False,
        resize_mode=prep.resize_mode,
        interpolation=prep.interpolation,
        fill_color=prep.fill_color,
    )
    for image in [*_images(), _images()[0].convert("RGBA"), _images()[0].convert("P")]:
        np.testing.assert_array_equal(prep(image), transform(image).numpy())


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_exported_vectors_equal_torch(runtime: str, export_root: Path, tiny_export: Path) -> None:
    torch_encoder = get_encoder(TINY_TEST_MODEL)
    exported = get_encoder(TINY_TEST_MODEL, runtime=EncoderRuntime(runtime, "fp32", export_root))
    assert isinstance(exported, ExportedEncoder) and exported.folder == tiny_export
    assert exported.dim == torch_encoder.dim and exported.logit_scale == pytest.approx(
        torch_encoder.logit_scale
    )
    got_texts, want_texts = exported.embed_texts(TEXTS), torch_encoder.embed_texts(TEXTS)
    assert _cosines(got_texts, want_texts).min() >= FIDELITY
    assert np.abs(got_texts - want_texts).max() <= 1e-4  # fp32 throughout (no bf16 shortcut)
    for text in TEXTS[:3]:  # one at a time: trimmed to its own length
        single = _cosines(exported.embed_texts([text]), torch_encoder.embed_texts([text]))
        assert single.min() >= FIDELITY
    images = _images()
    got, want = exported.embed_images(images), torch_encoder.embed_images(images)
    assert _cosines(got, want).min() >= FIDELITY and np.abs(got - want).max() <= 1e-4
    assert got.dtype == np.float32 and np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    assert exported.image_prep == torch_encoder.image_prep  # the feeder resizes for both alike
    assert_pixels_give_image_vectors(exported, images)


def assert_pixels_give_image_vectors(encoder: Any, images: list[Image.Image]) -> None:
    """The feeder's path (resized uint8 pixels, normalised by the model) gives the vectors of
    decoded images."""
    prep = encoder.image_prep
    assert prep is not None
    pixels = np.stack([prep.geometry(image) for image in images])
    assert pixels.dtype == np.uint8
    np.testing.assert_allclose(
        encoder.embed_pixels(pixels), encoder.embed_images(images), atol=1e-6
    )


def test_torch_pixels_give_image_vectors() -> None:
    assert_pixels_give_image_vectors(get_encoder(TINY_TEST_MODEL), _images())


def test_export_is_reused_and_named_by_weights(export_root: Path, tiny_export: Path) -> None:
    ref = parse_model_name(TINY_TEST_MODEL)
    stamp = (tiny_export / "visual" / "model.onnx").stat().st_mtime_ns

    def no_torch(_: bool) -> Any:
        raise AssertionError("an export in the cache must not load the torch model")

    again = load_exported(
        ref,
        runtime="onnx",
        precision="fp32",
        device="cpu",
        root=export_root,
        text_only=False,
        load_torch=no_torch,
    )
    assert again.folder == tiny_export
    assert (tiny_export / "visual" / "model.onnx").stat().st_mtime_ns == stamp
    other = parse_model_name("mmsearch-tiny/random:7")
    assert export_folder(other, export_root) != tiny_export


def test_text_only_export_then_image_tower(tmp_path: Path) -> None:
    """A text-only load exports the text tower alone; a full load adds the image tower."""
    ref = parse_model_name("mmsearch-tiny/random:11")
    loads: list[bool] = []

    def loader(text_only: bool) -> Any:
        loads.append(text_only)
        return get_encoder(ref.name, text_only=text_only)

    folder = ensure_export(ref, tmp_path, ("textual",), loader)
    assert (folder / "textual" / "model.onnx").is_file() and not (folder / "visual").exists()
    ensure_export(ref, tmp_path, ("textual", "visual"), loader)
    ensure_export(ref, tmp_path, ("textual", "visual"), loader)
    assert loads == [True, False]


def test_ready_made_folder_loads_without_export(export_root: Path, tiny_export: Path) -> None:
    name = f"exported/file:{tiny_export}"
    runtime = EncoderRuntime("openvino", "fp32", export_root)
    encoder = get_encoder(name, runtime=runtime, text_only=True)
    want = get_encoder(TINY_TEST_MODEL).embed_texts(TEXTS[:2])
    assert _cosines(encoder.embed_texts(TEXTS[:2]), want).min() >= FIDELITY
    assert not encoder.has_image_tower


def test_int8_is_calibrated_and_reports_fidelity(tmp_path: Path, tiny_export: Path) -> None:
    import json
    import shutil

    folder = tmp_path / "export"
    shutil.copytree(tiny_export, folder)
    photos = tmp_path / "photos"
    photos.mkdir()
    for photo in generated_photos(24):
        (photos / photo.name).write_bytes(photo.data)
    from mmsearch.encoders.quantizing import quantize

    report = quantize(folder, ["textual", "visual"], photos)
    assert json.loads((folder / "int8.json").read_text()) == report
    assert "24 images from" in report["visual"]["calibration"]
    for tower in ("textual", "visual"):
        assert (folder / tower / "model.int8.onnx").is_file()
        assert 0.9 <= report[tower]["cosine_min"] <= report[tower]["cosine_mean"] <= 1.0
    for runtime in ("onnx", "openvino"):
        int8 = ExportedEncoder(folder, name="int8", runtime=runtime, precision="int8")
        want = get_encoder(TINY_TEST_MODEL).embed_images(_images())
        assert _cosines(int8.embed_images(_images()), want).mean() >= 0.9


def test_int8_follows_its_calibration_folder(tmp_path: Path, tiny_export: Path) -> None:
    import shutil

    from mmsearch.encoders.quantizing import ensure_int8

    folder = tmp_path / "export"
    shutil.copytree(tiny_export, folder)
    first, second = tmp_path / "first", tmp_path / "second"
    for where, photos in ((first, generated_photos(12)), (second, generated_photos(24)[12:])):
        where.mkdir()
        for photo in photos:
            (where / photo.name).write_bytes(photo.data)
    visual = folder / "visual" / "model.int8.onnx"
    ensure_int8(folder, ["textual", "visual"], first, contextlib.nullcontext)
    stamp = visual.stat().st_mtime_ns
    ensure_int8(folder, ["textual", "visual"], first, contextlib.nullcontext)
    assert visual.stat().st_mtime_ns == stamp  # same images: kept
    ensure_int8(folder, ["textual", "visual"], second, contextlib.nullcontext)
    assert visual.stat().st_mtime_ns != stamp  # other images: calibrated again
    with pytest.raises(ModelUnavailable, match="does not exist"):
        ensure_int8(folder, ["visual"], tmp_path / "typo", contextlib.nullcontext)


def test_int8_of_a_text_only_export(tmp_path: Path) -> None:
    """An API that serves text only exports and quantises the text tower alone."""
    runtime = EncoderRuntime("onnx", "int8", tmp_path)
    encoder = get_encoder("mmsearch-tiny/random:13", runtime=runtime, text_only=True)
    assert isinstance(encoder, ExportedEncoder) and not (encoder.folder / "visual").exists()
    want = get_encoder("mmsearch-tiny/random:13").embed_texts(TEXTS)
    assert _cosines(encoder.embed_texts(TEXTS), want).mean() > 0.95


def test_runtime_and_precision_pairs() -> None:
    with pytest.raises(RuntimeUnsupported, match="int8 needs runtime onnx or openvino"):
        EncoderRuntime("torch", "int8")
    with pytest.raises(RuntimeUnsupported, match="unknown runtime"):
        EncoderRuntime("tensorrt", "fp32")
    with pytest.raises(ModelUnavailable, match="fp16 runs on a GPU only"):
        get_encoder("mmsearch-tiny/random:12", device="cpu", runtime=EncoderRuntime("onnx", "fp16"))
    assert torch.cuda.is_available() or EncoderRuntime("onnx")._device("auto") == "cpu"


def test_fp16_graphs_stay_close(tmp_path: Path, tiny_export: Path) -> None:
    import shutil

    from mmsearch.encoders.quantizing import ensure_fp16

    folder = tmp_path / "export"
    shutil.copytree(tiny_export, folder)
    ensure_fp16(folder, ["textual", "visual"], contextlib.nullcontext)
    half = ExportedEncoder(folder, name="fp16", runtime="onnx", precision="fp16")
    torch_encoder = get_encoder(TINY_TEST_MODEL)
    images = _images()
    assert _cosines(half.embed_images(images), torch_encoder.embed_images(images)).min() > 0.999
    assert _cosines(half.embed_texts(TEXTS), torch_encoder.embed_texts(TEXTS)).min() > 0.999


def test_models_that_cannot_be_exported_say_so(tmp_path: Path) -> None:
    runtime = EncoderRuntime("onnx", "fp32", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match="not a model export"):
        get_encoder(f"x/file:{tmp_path / 'empty'}", runtime=runtime)


@pytest.mark.parametrize("damaged", ["textual/model.onnx", "textual/tokenizer.json", "config.json"])
def test_a_damaged_export_is_unavailable_not_a_crash(
    tmp_path: Path, tiny_export: Path, damaged: str
) -> None:
    import shutil

    folder = tmp_path / "export"
    shutil.copytree(tiny_export, folder)
    (folder / damaged).write_bytes(b"\x00not what it should be")
    with pytest.raises(ModelUnavailable, match=str(folder)):
        get_encoder(f"x/file:{folder}", runtime=EncoderRuntime("onnx", "fp32", tmp_path))


@pytest.mark.slow
def test_export_model_command_writes_a_ready_made_folder(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MMSEARCH_EXPORT_DIR": str(tmp_path / "cache")}
    out = tmp_path / "ready"
    done = subprocess.run(
        [sys.executable, "-m", "mmsearch.api.cli", "export-model", "mmsearch-tiny/random:21"]
        + ["--precision", "int8", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert Path(report["folder"]).parent == tmp_path / "cache"
    assert set(report["int8"]) == {"textual", "visual"} and report["copied_to"] == str(out)
    copied = get_encoder(f"x/file:{out}", runtime=EncoderRuntime("openvino", "int8", tmp_path))
    want = get_encoder("mmsearch-tiny/random:21").embed_texts(TEXTS)
    assert _cosines(copied.embed_texts(TEXTS), want).mean() > 0.95
    again = subprocess.run(
        [sys.executable, "-m", "mmsearch.api.cli", "export-model", "mmsearch-tiny/random:21"]
        + ["--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 2 and "is not empty" in again.stderr
