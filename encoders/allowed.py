"""Which models a process may load on a client's request: the configured ones, and those of
existing collections (their vectors are searched with them, so they stay loadable); and from
which folders local weights may load."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePath

from mmsearch.encoders.base import ModelRef, UnknownModel, canonical_name, parse_model_name


def is_allowed(name: str, configured: Iterable[str], in_use: Callable[[], Iterable[str]]) -> bool:
    """Whether `name` is one of `configured` or of the models `in_use()` returns.

    Names compare as the models they denote (`open_clip:A/B` is `A/B`). `in_use` is asked only
    when the configured list does not have the name: listing collections costs a store call.
    """
    wanted = canonical_name(name)
    return wanted in {canonical_name(n) for n in configured} or wanted in {
        canonical_name(n) for n in in_use()
    }


class WeightsNotAllowed(UnknownModel):
    """A model name whose local weights lie outside the configured weights folders."""


_LOCAL_DIR = "local-dir:"  # open_clip reads a model folder named this way


def local_weights(ref: ModelRef) -> str | None:
    """The local path a model name loads weights from; None for hub names and random weights.

    Besides `file:PATH`, a path where a tag or repository name goes counts: open_clip and
    transformers open an existing path given there.
    """
    if ref.weights_file is not None:
        return ref.weights_file
    if ref.is_random:
        return None
    if ref.arch.startswith(_LOCAL_DIR):
        return ref.arch[len(_LOCAL_DIR) :] or "."
    if ref.backend == "hf":
        source = f"{ref.arch}/{ref.weights}"
        hub_id = not ref.arch.startswith((".", "~")) and not ref.weights.startswith((".", "~"))
        hub_id = hub_id and "/" not in ref.weights and "\\" not in source and ".." not in source
        return None if hub_id else source
    # No open_clip pretrained tag contains any of these characters.
    return ref.weights if any(char in ref.weights for char in "./\\~") else None


def weights_allowed(name: str, folders: Sequence[Path]) -> bool:
    """Whether the local weights of `name` (if it names any) lie inside one of `folders`.

    Decided on the text alone, never by looking at the file system: the answer and the time it
    takes say nothing about which files exist. `..` never passes.
    """
    try:
        path = local_weights(parse_model_name(name))
    except UnknownModel:
        return True  # no backend can load it; the registry says so
    if path is None:
        return True
    if ".." in PurePath(path).parts:
        return False
    where = Path(os.path.abspath(path))
    return any(where.is_relative_to(os.path.abspath(folder)) for folder in folders)
