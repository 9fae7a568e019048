"""How the qdrant-client store reports failures: client and server errors → platform errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from mmsearch.infra.errors import AppError, CollectionExists, CollectionNotFound, Unavailable


@contextmanager
def qdrant_errors(
    name: str, bad_request: type[AppError], forget: Callable[[str], None]
) -> Iterator[None]:
    """Translate client and server errors into the platform's errors.

    `name` is the collection the request was about; `forget(name)` drops its cached spec when
    the collection turns out not to exist. A rejected request raises `bad_request`.
    """
    try:
        yield
    except UnexpectedResponse as exc:
        reason = _reason(exc)
        if exc.status_code == 404:
            forget(name)
            raise CollectionNotFound(f"collection {name!r} not found") from exc
        if exc.status_code == 409 or "already exists" in reason:
            raise CollectionExists(f"collection {name!r} already exists") from exc
        if exc.status_code in (400, 422):
            raise bad_request(f"qdrant rejected the request: {reason}") from exc
        raise Unavailable(f"qdrant answered {exc.status_code}: {reason}") from exc
    except ResponseHandlingException as exc:
        raise Unavailable(f"qdrant is unreachable: {exc}") from exc
    except ValueError as exc:  # local mode reports missing/existing collections this way
        if "not found" in str(exc):
            forget(name)
            raise CollectionNotFound(f"collection {name!r} not found") from exc
        if "already exists" in str(exc):
            raise CollectionExists(f"collection {name!r} already exists") from exc
        raise


def _reason(exc: UnexpectedResponse) -> str:
    try:
        content: Any = exc.structured()
        return str(content.get("status", {}).get("error") or content)
    except Exception:
        return exc.reason_phrase or str(exc.status_code)
