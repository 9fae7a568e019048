"""What feeder processes do with one item in the feeder tests (module-level, so that the
processes can be sent them)."""

from __future__ import annotations

import os
import sys
import time

from mmsearch.infra.media.feeder import DecodeLimits, Loaded, Prepare, load_one
from mmsearch.infra.media.storage import ObjectStore
from mmsearch.infra.media.uris import MediaRef

HEAVY = ("torch", "open_clip", "transformers", "onnxruntime", "openvino", "celery", "qdrant_edge")


def crashing_load(
    objects: ObjectStore, ref: MediaRef, prepare: Prepare, limits: DecodeLimits
) -> Loaded:
    """Kills its process on an item named crash*, as a decoder crash does; loads the others."""
    if os.path.basename(ref.uri).startswith("crash"):
        os._exit(70)
    return load_one(objects, ref, prepare, limits)


def slow_load(
    objects: ObjectStore, ref: MediaRef, prepare: Prepare, limits: DecodeLimits
) -> Loaded:
    """Loads an item after a pause, so that a test can kill a process while it works."""
    time.sleep(0.2)
    return load_one(objects, ref, prepare, limits)


def process_load(
    objects: ObjectStore, ref: MediaRef, prepare: Prepare, limits: DecodeLimits
) -> Loaded:
    """The process that loads the item, and the heavy libraries it has imported."""
    heavy = sorted({name.split(".")[0] for name in sys.modules} & set(HEAVY))
    return Loaded((os.getpid(), os.getppid(), heavy))
