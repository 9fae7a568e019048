"""The ingest pipeline's plain functions on real Redis and a real embedded engine."""

from __future__ import annotations

from pathlib import Path

from mmsearch.encoders import get_encoder
from mmsearch.infra.runtime import Runtime
from mmsearch.infra.settings import Settings
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.vectors import CollectionSpec
from mmsearch.workers.pipeline import run_batch
from mmsearch.workers.tasks import media_loader


def test_batches_are_mirrored_into_a_version_being_built(
    redis_url: str, tmp_path: Path, tiny_model: str
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    photos = generated_photos(5)
    for photo in photos:
        (media / photo.name).write_bytes(photo.data)
    runtime = Runtime(Settings(redis_url=redis_url, data_dir=tmp_path / "data", file_root=media))
    other_model = "mmsearch-tiny/random:9"
    for version, model in ((1, tiny_model), (2, other_model)):
        runtime.vectors.create_collection(
            CollectionSpec(
                name=f"pics--v{version}",
                dim=get_encoder(model).dim,
                model=model,
                public_name="pics",
                version=version,
                id_namespace="pics",
            )
        )
    runtime.vectors.set_alias("pics", "pics--v1")
    items = [{"uri": f"file://{media}/{p.name}", "id": p.name} for p in photos]
    stores = (runtime.jobs, runtime.vectors, media_loader(runtime), runtime.encoder)
    try:
        job = runtime.jobs.create("pics", 5)
        run_batch(*stores, job, "pics", "b0", items[:2])
        runtime.jobs.start_migration("pics", "pics--v2")
        run_batch(*stores, job, "pics", "b1", items[2:])
        assert runtime.vectors.get_collection("pics--v1").count == 5
        assert runtime.vectors.get_collection("pics--v2").count == 3  # only while migrating
        assert runtime.jobs.get(job).succeeded == 5  # mirrored writes are not counted twice
    finally:
        runtime.close()
