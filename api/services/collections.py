"""Collections as versions behind an alias: `photos` → `photos--v1`, re-embedded into `--v2`.

A collection's public name is an alias of its active version, so a model migration builds a
new version beside the old one and switches the alias only when the new one is complete.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace

from mmsearch.api.schemas.resources import (
    ClusterSettings,
    CollectionCreate,
    CollectionPublic,
    IndexSettings,
    JobAccepted,
    KeywordPublic,
    KeywordSettings,
    ReembedRequest,
    RerankDefault,
)
from mmsearch.encoders import (
    Encoder,
    EncoderLoader,
    UnknownModel,
    WeightsNotAllowed,
    is_allowed,
    parse_model_name,
)
from mmsearch.encoders.rerankers import parse_reranker
from mmsearch.infra.catalog.tenancy import scoped
from mmsearch.infra.catalog.versions import (
    first_version,
    is_listed,
    keyword_config,
    keyword_fields,
    metadata_fields,
    next_version,
    public_name,
    version_number,
    versions_of,
)
from mmsearch.infra.errors import (
    CollectionExists,
    CollectionNotFound,
    Conflict,
    InvalidRequest,
    ModelNotAllowed,
    Unavailable,
)
from mmsearch.infra.jobs.store import JobStatus, JobStore
from mmsearch.infra.vectors import CollectionInfo, VectorStore
from mmsearch.infra.vectors.keyword_store import MISSING_KEYWORD
from mmsearch.infra.vectors.types import KeywordConfig, RerankConfig
from mmsearch.workers.dispatch import TaskSender

log = logging.getLogger(__name__)


def collection_public(info: CollectionInfo, active: str | None = None) -> CollectionPublic:
    """The public view of a collection (or of one of its versions)."""
    spec = info.spec
    return CollectionPublic(
        name=public_name(spec),
        version=spec.name,
        model=spec.model,
        dim=spec.dim,
        count=info.count,
        payload_schema=metadata_fields(spec),
        index=IndexSettings.of(spec.index),
        cluster=ClusterSettings.of(spec.cluster),
        random_weights=parse_model_name(spec.model).is_random,
        active=active is None or active == spec.name,
        keyword=keyword_public(spec.keyword),
        rerank=RerankDefault(**asdict(spec.rerank)) if spec.rerank else None,
    )


def keyword_public(config: KeywordConfig | None) -> KeywordPublic | None:
    """The public view of a collection's keyword index."""
    if config is None:
        return None
    fields = keyword_fields(config)
    return KeywordPublic(
        language=config.language, avg_len=config.avg_len, fields=fields, ready=config.ready
    )


def for_tenant(
    vectors: VectorStore, public: CollectionPublic, tenant: str | None
) -> CollectionPublic:
    """The collection as a tenant sees it: the count of its own items."""
    if tenant is None:
        return public
    count = vectors.count(public.version, scoped(None, tenant))
    return public.model_copy(update={"count": count})


UNAVAILABLE_WAYS_OUT = (
    "Ways out: an operator puts the weights in a folder of MMSEARCH_WEIGHTS_DIRS and allows "
    "ARCH/file:PATH, or gives the server internet access; or use another model"
)


def load_encoder(
    vectors: VectorStore, load: EncoderLoader, allowed_models: list[str], model: str
) -> Encoder:
    """The encoder for a model a client asked for, checked in this order: a model outside
    `allowed_models` and the collections' models is `model_not_allowed` (nothing is loaded), an
    allowed name no backend knows is `unknown_model`, weights that cannot be loaded are
    `model_unavailable`."""
    named = repr(model) if _shown_models([model]) else "with a local weights file"
    refused = ModelNotAllowed(
        f"model {named} is not allowed here; an operator can add it to MMSEARCH_MODELS",
        details={"allowed": _shown_models(allowed_models)},
    )
    if not is_allowed(model, allowed_models, lambda: _models_in_use(vectors)):
        raise refused
    try:
        return load(model)
    except WeightsNotAllowed as exc:  # weights outside MMSEARCH_WEIGHTS_DIRS: the same answer
        raise refused from exc
    except UnknownModel as exc:
        raise InvalidRequest(str(exc), code="unknown_model") from exc
    except (OSError, RuntimeError) as exc:  # the registry logs why, once
        # The cause of a model with local weights may name server paths: the log has it.
        cause = str(exc) if _shown_models([model]) else "the server log says why"
        raise Unavailable(
            f"model {named} could not be loaded: {cause}. {UNAVAILABLE_WAYS_OUT}",
            code="model_unavailable",
        ) from exc


def _shown_models(models: list[str]) -> list[str]:
    """The allowed models a client may be told of: not local weight files (server paths)."""
    shown = []
    for name in models:
        try:
            if parse_model_name(name).weights_file is None:
                shown.append(name)
        except UnknownModel:
            continue
    return shown


def _models_in_use(vectors: VectorStore) -> set[str]:
    return {spec.model for spec in vectors.list_specs()}


def _exists(vectors: VectorStore, name: str) -> bool:
    try:
        vectors.get_collection(name)
        return True
    except CollectionNotFound:
        return False


def create_collection(
    vectors: VectorStore,
    load: EncoderLoader,
    allowed_models: list[str],
    default_model: str,
    body: CollectionCreate,
) -> CollectionPublic:
    """Create version 1 and point the public name at it (`default_model` when none is named)."""
    if _exists(vectors, body.name):
        raise CollectionExists(f"collection {body.name!r} already exists")
    encoder = load_encoder(vectors, load, allowed_models, body.model or default_model)
    words = (body.keyword.language, body.keyword.avg_len) if body.keyword else None
    spec = first_version(
        body.name, encoder.dim, encoder.name, body.payload_schema, body.index.config(), words
    )
    spec = replace(
        spec, cluster=body.cluster.config(), rerank=_default_reranker(body, allowed_models)
    )
    vectors.create_collection(spec)
    vectors.set_alias(body.name, spec.name)
    log.info("created collection %s (model %s, dim %d)", body.name, spec.model, spec.dim)
    return collection_public(vectors.get_collection(body.name))


def _default_reranker(body: CollectionCreate, allowed_models: list[str]) -> RerankConfig | None:
    """The collection's default re-ranker: an allowed `itm:` name (loaded at its first use)."""
    if body.rerank is None:
        return None
    try:
        parse_reranker(body.rerank.model)
    except UnknownModel as exc:
        raise InvalidRequest(str(exc), code="unknown_model") from exc
    if not is_allowed(body.rerank.model, allowed_models, lambda: []):
        raise ModelNotAllowed(
            f"re-ranker {body.rerank.model!r} is not allowed here; an operator can add it to "
            "MMSEARCH_MODELS"
        )
    return RerankConfig(body.rerank.model, body.rerank.top_k)


def versions(vectors: VectorStore, name: str) -> list[CollectionPublic]:
    """Every version of a collection, oldest first, with the active one marked."""
    active = vectors.get_collection(name).spec
    infos = {info.spec.name: info for info in vectors.list_collections()}
    found = versions_of(public_name(active), [info.spec for info in infos.values()])
    return [collection_public(infos[spec.name], active.name) for spec in found]


def list_collections(vectors: VectorStore) -> list[CollectionPublic]:
    """Active versions under their public names, plus collections without an alias."""
    aliases = vectors.list_aliases()
    listed = [
        collection_public(info)
        for info in vectors.list_collections()
        if is_listed(info.spec, aliases)
    ]
    return sorted(listed, key=lambda c: c.name)


def delete_collection(vectors: VectorStore, name: str) -> list[str]:
    """By public name: drop every version. By version name: drop that inactive version."""
    aliases = vectors.list_aliases()
    if name in aliases:
        doomed = [v.version for v in versions(vectors, name)]
        vectors.delete_alias(name)
    else:
        spec = vectors.get_collection(name).spec
        if spec.name in aliases.values():
            raise Conflict(f"{name!r} is the active version; delete {public_name(spec)!r}")
        doomed = [spec.name]
    for physical in doomed:
        vectors.delete_collection(physical)
    log.info("deleted collection %s (%s)", name, ", ".join(doomed))
    return doomed


def reembed(
    vectors: VectorStore,
    jobs: JobStore,
    sender: TaskSender,
    load: EncoderLoader,
    allowed_models: list[str],
    name: str,
    body: ReembedRequest,
) -> JobAccepted:
    """Re-embed every item into a new version with another model; switch when complete."""
    if name not in vectors.list_aliases():
        raise InvalidRequest(f"{name!r} is not a collection's public name", code="not_an_alias")
    source = vectors.get_collection(name).spec
    public = public_name(source)
    running = jobs.migration_target(public)
    if running:
        raise Conflict(
            f"{public!r} is already being re-embedded into {running!r}", code="reembed_running"
        )
    encoder = load_encoder(vectors, load, allowed_models, body.model)
    latest = max(version_number(v.version) for v in versions(vectors, name))
    index = body.index.config() if body.index else source.index
    target = next_version(source, latest, encoder.dim, encoder.name, index)
    target = replace(target, cluster=source.cluster)  # spread as the version it replaces
    vectors.create_collection(target)
    jobs.start_migration(public, target.name)  # before the copy lists the source
    job_id = jobs.create(
        target.name, 0, listing=True, switch_alias=public, incarnation=target.incarnation
    )
    sender.collection_copy(job_id, source.name, target.name)
    log.info(
        "job %s: re-embedding %s into %s with %s", job_id, source.name, target.name, target.model
    )
    return JobAccepted(job_id=job_id, status=JobStatus.QUEUED, total=None, collection=target.name)


def add_keyword(
    vectors: VectorStore, jobs: JobStore, sender: TaskSender, name: str, body: KeywordSettings
) -> JobAccepted:
    """Give a collection's active version a keyword index, and start the job that fills it in
    for the items it holds. Asked again with the same settings, it starts another job, which
    fills what is still missing (a stopped job's rest, or points an earlier release's process
    wrote without the vector); with other settings it is 409 keyword_index_exists."""
    spec = vectors.spec(name)
    config = keyword_config(spec.payload_schema, body.language, body.avg_len)
    spec = vectors.enable_keyword(spec.name, config)
    total = vectors.count(spec.name, MISSING_KEYWORD)
    job_id = jobs.create(spec.name, total, listing=True, incarnation=spec.incarnation)
    sender.keyword_fill(job_id, spec.name)
    log.info("job %s: filling the keyword index of %s (%d items)", job_id, spec.name, total)
    return JobAccepted(job_id=job_id, status=JobStatus.QUEUED, total=total, collection=spec.name)
