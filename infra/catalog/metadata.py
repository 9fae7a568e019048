"""Bounds on an item's metadata: how deep it nests, how many keys it holds, how large it is.

Metadata is stored in the vector engine's payload and replayed from its write-ahead log when the
engine opens; a value nested hundreds of levels deep is accepted on write but cannot be read back,
so metadata is bounded before it is written, wherever it comes from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MetadataLimits:
    """The most nesting levels, keys (at every level) and serialised bytes metadata may have."""

    depth: int = 12
    keys: int = 512
    bytes: int = 64 * 1024


def json_shape(value: Any) -> tuple[int, int]:
    """Nesting depth and key count (objects at every level) of a JSON value, without recursion.

    A scalar has depth 0; `{"a": 1}` and `[1]` have depth 1. Walked one level at a time, keeping
    only containers, so a 100,000-item request body is measured in a fraction of a second.
    """
    depth, keys = 0, 0
    level = [value] if isinstance(value, dict | list) else []
    while level:
        depth += 1
        below: list[Any] = []
        for node in level:
            children = node.values() if isinstance(node, dict) else node
            keys += len(node) if isinstance(node, dict) else 0
            below.extend([child for child in children if isinstance(child, dict | list)])
        level = below
    return depth, keys


def metadata_problem(metadata: dict[str, Any], limits: MetadataLimits) -> str | None:
    """Why `metadata` exceeds `limits`, or None when it is within them."""
    depth, keys = json_shape(metadata)
    if depth > limits.depth:
        return f"metadata nests {depth} levels deep; at most {limits.depth} are allowed"
    if keys > limits.keys:
        return f"metadata has {keys} keys; at most {limits.keys} are allowed"
    size = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode())
    if size > limits.bytes:
        return f"metadata is {size} bytes as JSON; at most {limits.bytes} are allowed"
    return None
