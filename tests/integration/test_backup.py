"""`mmsearch backup`: a stopped standalone's data folder copied sparse, and restored by starting a
standalone on the copy; refused while the standalone runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmsearch.infra.local_redis import LocalRedis
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform, standalone_env

pytestmark = pytest.mark.slow

QUERIES = [{"text": "generated picture number 3"}, {"item_id": "gen_0001.jpg"}]


def backup(data_dir: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MMSEARCH_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "mmsearch.api.cli", "backup", str(dest)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def disk_and_apparent(folder: Path) -> tuple[int, int]:
    """Bytes the folder's files take on disk, and their sizes added up."""
    files = [p.stat() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(s.st_blocks * 512 for s in files), sum(s.st_size for s in files)


def answers(platform: Platform) -> list[list[tuple[str, float]]]:
    found = [platform.search("photos", {**q, "limit": 10})["results"] for q in QUERIES]
    return [[(hit["id"], round(hit["score"], 5)) for hit in hits] for hits in found]


def test_backup_is_sparse_and_restores(tmp_path: Path, s3_endpoint: str, tiny_model: str) -> None:
    media, data, copy = tmp_path / "media", tmp_path / "data", tmp_path / "copy"
    media.mkdir()
    items = []
    for photo in generated_photos(12):
        (media / photo.name).write_bytes(photo.data)
        items.append({"uri": f"file://{media / photo.name}", "id": photo.name})
    redis = LocalRedis(tmp_path / "redis", persist=False)
    try:
        env = standalone_env(redis.url, data, s3_endpoint, tiny_model, file_root=str(media))
        platform = Platform(env, tmp_path / "first.log")
        try:
            platform.create_collection("photos", tiny_model)
            assert platform.wait_job(platform.ingest("photos", {"items": items}))["succeeded"] == 12
            before = answers(platform)
            refused = backup(data, copy)
            assert refused.returncode == 2 and "stop mmsearch" in refused.stderr
            assert not copy.exists()
        finally:
            platform.stop()
        done = backup(data, copy)
        assert done.returncode == 0, done.stderr
        assert backup(data, copy).returncode == 2  # never over an existing folder
        on_disk, apparent = disk_and_apparent(data)
        copy_on_disk, copy_apparent = disk_and_apparent(copy)
        assert copy_apparent == apparent
        assert on_disk < apparent / 4, "the engine's files are not sparse here"
        assert copy_on_disk <= on_disk * 1.1 + 64 * 1024
        restored = Platform({**env, "MMSEARCH_DATA_DIR": str(copy)}, tmp_path / "restored.log")
        try:
            assert answers(restored) == before
            assert restored.expect(200, "GET", "/v1/collections/photos")["count"] == 12
        finally:
            restored.stop()
    finally:
        redis.stop()
