"""Which models a process may load on a client's request: the configured ones, and those of
existing collections (their vectors are searched with them, so they stay loadable)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mmsearch.encoders.base import canonical_name


def is_allowed(name: str, configured: Iterable[str], in_use: Callable[[], Iterable[str]]) -> bool:
    """Whether `name` is one of `configured` or of the models `in_use()` returns.

    Names compare as the models they denote (`open_clip:A/B` is `A/B`). `in_use` is asked only
    when the configured list does not have the name: listing collections costs a store call.
    """
    wanted = canonical_name(name)
    return wanted in {canonical_name(n) for n in configured} or wanted in {
        canonical_name(n) for n in in_use()
    }
