"""Collections as versions behind an alias: `photos` → `photos--v1`, re-embedded into `--v2`.

A collection's public name is an alias of its active version, so a model migration builds a
new version beside the old one and switches the alias only when the new one is complete.
Every version keeps the id namespace of the first, so an item has the same point id in each.
Every version is also its own incarnation: a collection deleted and made again under the same
name is another collection, which jobs of the old one must not write into.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace

from mmsearch.infra.catalog.payload import (
    SOURCE_ID_KEY,
    SYNC_FIELD,
    TENANT_FIELD,
    TEXT_FIELD,
    VIDEO_ID_KEY,
    metadata_field,
    metadata_key,
)
from mmsearch.infra.catalog.points import id_namespace
from mmsearch.infra.vectors.types import CollectionSpec, FieldType, IndexConfig, KeywordConfig

_VERSIONED = re.compile(r"^(?P<public>.+)--v(?P<n>\d+)$")


def version_name(public: str, version: int) -> str:
    """The collection name of version `version` of a public name."""
    return f"{public}--v{version}"


def version_number(physical: str) -> int:
    """The version a collection name carries (0 for an unversioned collection)."""
    match = _VERSIONED.match(physical)
    return int(match.group("n")) if match else 0


def version_of(spec: CollectionSpec) -> int:
    """A collection's version number (0 for an unversioned collection)."""
    return spec.version if spec.version is not None else version_number(spec.name)


def public_name(spec: CollectionSpec) -> str:
    """The name clients use for a collection version (its own name when unversioned)."""
    return spec.public_name or spec.name


def is_versioned(spec: CollectionSpec) -> bool:
    """Whether a collection is a version behind a public name."""
    return spec.public_name is not None


def keyword_config(
    payload_schema: dict[str, FieldType], language: str = "english", avg_len: float = 16.0
) -> KeywordConfig:
    """A keyword index over an item's caption and the `text` metadata fields of its schema."""
    texts = [k for k, kind in payload_schema.items() if kind == FieldType.TEXT]
    fields = (TEXT_FIELD, *sorted(k for k in texts if metadata_field(k) is not None))
    return KeywordConfig(fields, language, avg_len)


def keyword_fields(config: KeywordConfig) -> list[str]:
    """The fields of a keyword index by the names clients use: "text" is the caption."""
    return [metadata_field(f) or f for f in config.fields]


def first_version(
    public: str,
    dim: int,
    model: str,
    fields: dict[str, FieldType],
    index: IndexConfig,
    keyword: tuple[str, float] | None = ("english", 16.0),
) -> CollectionSpec:
    """Version 1 of a new collection indexing metadata `fields`; ids derive from its name.
    `keyword`: the language and average length of its keyword index (None: none)."""
    payload_schema = {metadata_key(name): kind for name, kind in fields.items()}
    payload_schema[TENANT_FIELD] = FieldType.KEYWORD  # the tenant index: one group per tenant
    payload_schema[VIDEO_ID_KEY] = FieldType.KEYWORD  # a video's frames, found together
    payload_schema[SOURCE_ID_KEY] = FieldType.KEYWORD  # a source's items, for its syncs
    payload_schema[SYNC_FIELD] = FieldType.KEYWORD  # which sync last saw each of them
    spec = CollectionSpec(version_name(public, 1), dim, model, payload_schema, index)
    words = keyword_config(payload_schema, *keyword) if keyword else None
    return replace(
        spec,
        public_name=public,
        version=1,
        id_namespace=public,
        incarnation=new_incarnation(),
        keyword=words,
    )


def next_version(
    source: CollectionSpec, latest: int, dim: int, model: str, index: IndexConfig
) -> CollectionSpec:
    """The version after `latest` of `source`'s public name: same fields, same point ids, and
    a keyword index (as the source's, or the default one where the source has none)."""
    public, number, schema = public_name(source), latest + 1, dict(source.payload_schema)
    spec = CollectionSpec(version_name(public, number), dim, model, schema, index)
    words = source.keyword or keyword_config(schema)
    return replace(
        spec,
        public_name=public,
        version=number,
        id_namespace=id_namespace(source),
        incarnation=new_incarnation(),
        keyword=replace(words, ready=True),  # every item is written into it afresh
        rerank=source.rerank,
    )


def new_incarnation() -> str:
    """A fresh incarnation id for a collection being created."""
    return uuid.uuid4().hex


def is_same_collection(
    bound: str | None, current: CollectionSpec, specs: Callable[[], Iterable[CollectionSpec]]
) -> bool:
    """Whether a job bound to incarnation `bound` may write to `current`, the collection its
    name resolves to now: the same incarnation, or a version of the same public name while the
    bound version still exists (a re-embed moved the alias on). `specs` lists every collection
    and is called only when the incarnations differ; a job bound to nothing (created before
    incarnations) may write anywhere."""
    if bound is None or current.incarnation == bound:
        return True
    return any(
        spec.incarnation == bound and public_name(spec) == public_name(current) for spec in specs()
    )


def metadata_fields(spec: CollectionSpec) -> dict[str, FieldType]:
    """The metadata fields a collection indexes, by the names clients use."""
    named = {metadata_field(key): kind for key, kind in spec.payload_schema.items()}
    return {name: kind for name, kind in named.items() if name is not None}


def versions_of(public: str, specs: Iterable[CollectionSpec]) -> list[CollectionSpec]:
    """The versions of a public name among `specs`, oldest first."""
    return sorted((s for s in specs if public_name(s) == public), key=version_of)


def is_listed(spec: CollectionSpec, aliases: dict[str, str]) -> bool:
    """Whether a listing shows a collection: an active version, or one without versions."""
    return is_active(spec, aliases) or not is_versioned(spec)


def is_active(spec: CollectionSpec, aliases: dict[str, str]) -> bool:
    """Whether an alias points at this collection (`aliases`: alias → collection)."""
    return spec.name in aliases.values()
