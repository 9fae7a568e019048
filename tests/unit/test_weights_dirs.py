"""Local weights load only from the configured weights folders; the check reads the name's text
alone, so neither its answer nor its cost depends on what exists on the server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mmsearch.encoders import WeightsNotAllowed, get_encoder, weights_allowed
from mmsearch.infra.settings import Settings

MODELS = Path("/srv/models")


@pytest.mark.parametrize(
    "name",
    [
        "ViT-B-32/laion2b_s34b_b79k",
        "mmsearch-tiny/random:3",
        "hf:openai/clip-vit-base-patch32",
        "ViT-B-32/file:/srv/models/b32.safetensors",
        "ViT-B-32/file:/srv/models/sub/b32.pt",
        "hf:local/file:/srv/models/my-clip",
    ],
)
def test_hub_tags_random_weights_and_files_inside_are_allowed(name: str) -> None:
    assert weights_allowed(name, [MODELS])


@pytest.mark.parametrize(
    "name",
    [
        "ViT-B-32/file:/etc/passwd",
        "ViT-B-32/file:/srv/models/../../etc/passwd",
        "ViT-B-32/file:/srv/models-old/b32.pt",  # a sibling with the same prefix
        "ViT-B-32/file:relative.pt",
        "ViT-B-32//etc/passwd",  # a path where a tag goes: open_clip would open it
        "ViT-B-32/weights.pt",
        "ViT-B-32/~root",
        "hf:./my-clip",
        "hf:local/../secret",
        "open_clip:local-dir:/srv/models/x",  # open_clip reads the folder it names... not this one
    ],
)
def test_local_paths_outside_the_folders_are_not(name: str) -> None:
    assert not weights_allowed(name, [MODELS])
    assert not weights_allowed(name, [])


def test_settings_default_to_the_model_cache_and_check_configured_models(
    tmp_path: Path,
) -> None:
    assert Settings().weights_folders == []
    cache = tmp_path / "cache"
    assert Settings(model_cache_dir=cache).weights_folders == [cache]
    chosen = Settings(model_cache_dir=cache, weights_dirs=f"{tmp_path}/a, {tmp_path}/b")
    assert chosen.weights_folders == [tmp_path / "a", tmp_path / "b"]
    inside = f"mmsearch-tiny/file:{tmp_path}/a/w.pt"
    assert inside in chosen.model_copy(update={"models": [inside]}).allowed_models
    with pytest.raises(ValidationError, match="MMSEARCH_WEIGHTS_DIRS"):
        Settings(model_cache_dir=cache, models=[inside])
    with pytest.raises(ValidationError, match="MMSEARCH_WEIGHTS_DIRS"):
        Settings(default_model=inside)


def test_the_registry_refuses_outside_weights_without_opening_them(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    folder, outside = tmp_path / "models", tmp_path / "elsewhere"
    folder.mkdir(), outside.mkdir()
    state = get_encoder("mmsearch-tiny/random:21")._model.state_dict()  # type: ignore[attr-defined]
    for where in (folder, outside):
        save_file({k: v.contiguous() for k, v in state.items()}, str(where / "w.safetensors"))
    (outside / "garbage.pt").write_bytes(b"not a checkpoint")
    for path in (outside / "w.safetensors", outside / "missing.pt", outside / "garbage.pt"):
        with pytest.raises(WeightsNotAllowed):  # exists, missing or unreadable: one answer
            get_encoder(f"mmsearch-tiny/file:{path}", weights_dirs=[folder])
    loaded = get_encoder(f"mmsearch-tiny/file:{folder / 'w.safetensors'}", weights_dirs=[folder])
    assert loaded.dim > 0
