"""Embedding models behind one protocol and a registry."""

from mmsearch.encoders.allowed import WeightsNotAllowed, is_allowed, weights_allowed
from mmsearch.encoders.base import (
    Encoder,
    EncoderLoader,
    ImageTowerNotLoaded,
    ModelRef,
    ModelUnavailable,
    UnknownModel,
    canonical_name,
    parse_model_name,
)
from mmsearch.encoders.registry import (
    TINY_TEST_MODEL,
    configure_cache,
    get_encoder,
    list_backends,
    load_failures,
    loaded_encoders,
    register_backend,
    validate_model_name,
)

__all__ = [
    "TINY_TEST_MODEL",
    "Encoder",
    "EncoderLoader",
    "ModelRef",
    "ModelUnavailable",
    "ImageTowerNotLoaded",
    "UnknownModel",
    "WeightsNotAllowed",
    "canonical_name",
    "configure_cache",
    "get_encoder",
    "is_allowed",
    "list_backends",
    "load_failures",
    "loaded_encoders",
    "parse_model_name",
    "register_backend",
    "validate_model_name",
    "weights_allowed",
]
