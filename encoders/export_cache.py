"""Exports kept on disk, one folder per model and weights digest: made at the first start that
needs them (with torch), reused by every later one (with or without torch).

    EXPORT_ROOT/
      ViT-B-32--3f2a.../         an export (layout in mmsearch.encoders.exported)
      openvino-cache/            OpenVINO's compiled graphs, reused between starts
      digests.json               weights files' digests, by path, size, inode and times

The digest names the weights, so new weights in the same file give a new export: a file's
digest is its content's (a Hugging Face model folder's, that of every file in it); a pretrained
tag's, a hub repository's or random weights' is the name (published weights do not change). An
export records the versions of the packages that made it (open_clip or transformers, torch,
the exporter) and is made again where torch is installed at other versions (random weights
drawn differently, a changed bundled config). A model name whose `file:` path is a folder
holding config.json and a `textual/` or `visual/` folder is a ready-made export, used as it
is (an open_clip name's folder needs only config.json).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from mmsearch.encoders.base import (
    Encoder,
    ExportProblem,
    ModelRef,
    ModelUnavailable,
    UnknownModel,
    root_cause,
)
from mmsearch.encoders.exported import CONFIG, TOWERS, ExportedEncoder, tower_file

log = logging.getLogger(__name__)

EXPORT_FORMAT = 1  # part of every digest: a change of layout or graphs makes new exports
COMPILED = "openvino-cache"
_DIGESTS = "digests.json"
_CHUNK = 1 << 20


# Loads the torch model of a ref for export; its argument is text_only.
TorchLoader = Callable[[bool], Encoder]


# The module exporting each backend's models (export_text, export_visual, model_config).
EXPORTERS = {"open_clip": "mmsearch.encoders.exporting", "hf": "mmsearch.encoders.hf_exporting"}
_PACKAGES = {"open_clip": "open_clip_torch", "hf": "transformers"}


def ready_made(ref: ModelRef) -> Path | None:
    """The folder of a ready-made export the model name points to, else None (a Hugging Face
    model folder is exported like a hub repository)."""
    path = ref.weights_file
    if path is None or not Path(path).is_dir():
        return None
    folder = Path(path)
    if ref.backend == "hf" and not any((folder / tower).is_dir() for tower in TOWERS):
        return None
    if not (folder / CONFIG).is_file():
        raise ModelUnavailable(f"{path} is a folder but not a model export (no {CONFIG})")
    return folder


def weights_digest(ref: ModelRef, root: Path) -> str:
    """A hex digest naming the model's weights (see the module's docstring)."""
    h = hashlib.sha256(f"mmsearch-export {EXPORT_FORMAT}\0{ref.backend}\0{ref.arch}\0".encode())
    if ref.weights_file is not None and Path(ref.weights_file).is_dir():
        for path in sorted(_files(Path(ref.weights_file))):
            h.update(f"{path.relative_to(ref.weights_file)}\0{_file_digest(path, root)}\0".encode())
    elif ref.weights_file is not None:
        h.update(_file_digest(Path(ref.weights_file), root).encode())
    else:
        h.update(ref.weights.encode())
    return h.hexdigest()


def made_with(backend: str = "open_clip") -> dict[str, str]:
    """The versions of the packages a backend's export is made with (installed or not)."""
    packages = (_PACKAGES.get(backend, backend), "torch", "onnxscript")
    return {package: _version(package) for package in packages}


def _files(folder: Path) -> list[Path]:
    """The files of a model folder, hidden ones (caches, locks) left out."""
    return [
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]


def export_folder(ref: ModelRef, root: Path) -> Path:
    """Where the export of `ref` lives under `root`."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ref.arch).strip("-.") or "model"
    return root / f"{slug[:64]}--{weights_digest(ref, root)[:20]}"


def load_exported(
    ref: ModelRef,
    *,
    runtime: str,
    precision: str,
    device: str,
    root: Path,
    text_only: bool,
    load_torch: TorchLoader,
    calibration: Path | None = None,
) -> ExportedEncoder:
    """The exported encoder of `ref`, exporting the towers it needs first where they are
    missing (ready-made exports are used as they are)."""
    folder = ready_made(ref)
    if folder is None:
        towers = ("textual",) if text_only else TOWERS
        folder = ensure_export(ref, root, towers, load_torch)
        if precision in ("int8", "fp16"):
            from mmsearch.encoders.quantizing import ensure_fp16, ensure_int8

            if precision == "int8":
                ensure_int8(folder, towers, calibration, lambda: _locked(_lock_path(root, folder)))
            else:
                ensure_fp16(folder, towers, lambda: _locked(_lock_path(root, folder)))
    try:
        return ExportedEncoder(
            folder,
            name=ref.name,
            runtime=runtime,
            precision=precision,
            device=device,
            text_only=text_only,
            is_random=ref.is_random,
            compiled_cache=_writable(root / COMPILED),
        )
    except (ModelUnavailable, UnknownModel):
        raise
    except Exception as exc:  # the runtimes' and tokenizers' own errors: a damaged export
        raise ModelUnavailable(f"cannot load the export in {folder}: {root_cause(exc)}") from exc


def ensure_export(
    ref: ModelRef, root: Path, towers: Sequence[str], load_torch: TorchLoader
) -> Path:
    """The export folder of `ref` with `towers` in it, exported now where missing; one process
    exports at a time (others wait, then use its work)."""
    folder = export_folder(ref, root)
    if not _missing(folder, towers):
        return folder
    if ref.backend not in EXPORTERS:
        raise ExportProblem(
            f"{ref.name}: {ref.backend} models are not exported; run them with "
            "MMSEARCH_RUNTIME=torch, or name a ready-made export folder"
        )
    root.mkdir(parents=True, exist_ok=True)
    with _locked(_lock_path(root, folder)):
        missing = _missing(folder, towers)
        if not missing:
            return folder  # another process exported it meanwhile
        try:
            exporter = importlib.import_module(EXPORTERS[ref.backend])
        except ImportError as exc:
            raise ExportProblem(
                f"{ref.name} has no export in {root}, and making one needs torch and open_clip "
                f"({exc.name} is missing): export it where they are installed (mmsearch "
                "export-model), or name a ready-made export folder (ARCH/file:FOLDER)"
            ) from exc
        if _made_elsewhere(folder):
            shutil.rmtree(folder)  # made by other versions: every tower of it goes
            missing = list(towers)
        encoder = load_torch(missing == ["textual"])
        log.info("exporting %s (%s) to %s", ref.name, " and ".join(missing), folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "int8.json").unlink(missing_ok=True)  # of the graphs about to be replaced
        for tower in missing:
            staging = folder / f".{tower}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            export = exporter.export_text if tower == "textual" else exporter.export_visual
            export(encoder, staging)
            shutil.rmtree(folder / tower, ignore_errors=True)
            staging.rename(folder / tower)
        config = exporter.model_config(encoder)
        config["mmsearch"]["made_with"] = made_with(ref.backend)
        _write_json(folder / CONFIG, config)
    return folder


def _missing(folder: Path, towers: Sequence[str]) -> list[str]:
    if not (folder / CONFIG).is_file() or _made_elsewhere(folder):
        return list(towers)
    return [tower for tower in towers if not tower_file(folder, tower, "fp32").is_file()]


def _made_elsewhere(folder: Path) -> bool:
    """Whether the export was made by other versions of open_clip (or transformers), torch or
    the exporter than the installed ones (random weights drawn differently, a changed bundled
    config, another exporter): never so without torch, where the export is all there is."""
    if _version("torch") == "-" or not (folder / CONFIG).is_file():
        return False
    try:
        ours = json.loads((folder / CONFIG).read_text()).get("mmsearch", {})
        recorded, backend = ours.get("made_with"), ours.get("backend", "open_clip")
    except (OSError, ValueError, AttributeError):
        return True
    return bool(recorded != made_with(backend))


def _lock_path(root: Path, folder: Path) -> Path:
    return root / f".{folder.name}.lock"


def _writable(folder: Path) -> Path | None:
    """`folder` where it exists or can be made and written, else None (read-only exports)."""
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` between processes (saying so when it has to wait)."""
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process making the export (%s)", path.name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_json(path: Path, value: Any) -> None:
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    staging.write_text(json.dumps(value, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(staging, path)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def _file_digest(path: Path, root: Path) -> str:
    """sha256 of a weights file, remembered by path, size and mtime (large files take a while)."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelUnavailable(f"cannot read weights file {path}: {exc.strerror}") from exc
    key = f"{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ino}\0{stat.st_ctime_ns}"
    memo_path = root / _DIGESTS
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    if isinstance(memo, dict) and isinstance(memo.get(key), str):
        return str(memo[key])
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    with contextlib.suppress(OSError):
        root.mkdir(parents=True, exist_ok=True)
        memo = memo if isinstance(memo, dict) else {}
        memo[key] = digest
        _write_json(memo_path, memo)
    return digest
