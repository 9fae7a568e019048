"""One exception hierarchy; the API renders each as `{"error": {code, message, details}}`."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class AppError(Exception):
    """Base of every error the platform reports to a client."""

    status = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class NotFound(AppError):
    status = 404
    code = "not_found"


class CollectionNotFound(NotFound):
    code = "collection_not_found"


class JobNotFound(NotFound):
    code = "job_not_found"


class ItemNotFound(NotFound):
    code = "item_not_found"


class SourceNotFound(NotFound):
    code = "source_not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class CollectionExists(Conflict):
    code = "collection_exists"


class SpecMismatch(Conflict):
    """A collection to fill exists already, with other settings than the one it copies."""

    code = "spec_mismatch"


class SyncRunning(Conflict):
    """A source already has a sync running (its job id in `details`)."""

    code = "sync_running"


class IdempotencyKeyReused(Conflict):
    """An Idempotency-Key sent again with a different request body."""

    code = "idempotency_key_reused"


class InvalidRequest(AppError):
    status = 422
    code = "invalid_request"


class InvalidJSON(InvalidRequest):
    """A request body that is JSON but nests deeper than the platform accepts."""

    code = "invalid_json"


class ModelNotAllowed(InvalidRequest):
    """A model outside MMSEARCH_MODELS (and not the default or a collection's model)."""

    code = "model_not_allowed"


class NotApplicable(InvalidRequest):
    """A setting the engine in use cannot apply (cluster settings on the embedded engine)."""

    code = "not_applicable"


class BadFilter(AppError):
    status = 400
    code = "bad_filter"


class BadReference(AppError):
    """A media reference that is malformed or points where it may not."""

    status = 400
    code = "invalid_uri"


class TooLarge(AppError):
    status = 413
    code = "too_large"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class Unavailable(AppError):
    status = 503
    code = "unavailable"


class CountMismatch(AppError):
    """A copied collection holds another number of points than its source."""

    code = "count_mismatch"


class ItemErrorCode(StrEnum):
    """Stable codes recorded against a single item of an ingest job."""

    INVALID_URI = "invalid_uri"
    INVALID_METADATA = "invalid_metadata"
    FORBIDDEN_URI = "forbidden_uri"
    NOT_FOUND = "not_found"
    NOT_A_FILE = "not_a_file"
    ACCESS_DENIED = "access_denied"
    TOO_LARGE = "too_large"
    NOT_AN_IMAGE = "not_an_image"
    UNSUPPORTED_FORMAT = "unsupported_format"
    CORRUPT_IMAGE = "corrupt_image"
    CORRUPT_VIDEO = "corrupt_video"
    FETCH_FAILED = "fetch_failed"
    EMBED_FAILED = "embed_failed"
    UPSERT_FAILED = "upsert_failed"
    INTERNAL_ERROR = "internal_error"
    CANCELLED = "cancelled"
    SKIPPED_DUPLICATE = "skipped_duplicate"
    COLLECTION_DELETED = "collection_deleted"
    ID_CONFLICT = "id_conflict"
    SOURCE_REMOVED = "source_removed"


class ItemError(Exception):
    """Failure of one item; recorded against that item, the batch goes on."""

    def __init__(self, code: ItemErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
