"""`mmsearch migrate`: a stopped standalone's collections copied into a Qdrant server
(qdrant-client's local mode in a folder stands in for it); the server store then answers as the
embedded engine did. Refused while the standalone runs; cluster settings are refused there too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from mmsearch.encoders import get_encoder
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import platform_with_redis
from mmsearch.infra.vectors import EdgeVectorStore, QdrantServerStore, VectorStore
from tests.fixtures.vectors import assert_same_hits

pytestmark = pytest.mark.slow

ALBUM = {"must": [{"key": "metadata.album", "match": {"value": "b"}}]}


def migrate(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MMSEARCH_DATA_DIR": str(data)}
    command = [sys.executable, "-m", "mmsearch.api.cli", "migrate", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_a_stopped_standalone_moves_to_a_server(
    tmp_path: Path, s3_endpoint: str, tiny_model: str
) -> None:
    media, server_dir = tmp_path / "media", tmp_path / "server"
    media.mkdir()
    items = []
    for i, photo in enumerate(generated_photos(16)):
        (media / photo.name).write_bytes(photo.data)
        meta = {"album": "ab"[i % 2]}
        items.append({"uri": f"file://{media / photo.name}", "id": photo.name, "metadata": meta})
    root = str(media)
    with platform_with_redis(tmp_path, s3_endpoint, tiny_model, file_root=root) as platform:
        body = {"name": "photos", "payload_schema": {"album": "keyword"}}
        platform.expect(201, "POST", "/v1/collections", json=body)
        spread = {"name": "spread", "cluster": {"replication_factor": 3}}
        refused = platform.expect(422, "POST", "/v1/collections", json=spread)
        assert refused["error"]["code"] == "not_applicable"
        assert platform.wait_job(platform.ingest("photos", {"items": items}))["succeeded"] == 16
        running = migrate(tmp_path / "data", "--to", f"path:{server_dir}")
        assert running.returncode == 2 and "stop mmsearch" in running.stderr
    done = migrate(tmp_path / "data", "--to", f"path:{server_dir}")
    assert done.returncode == 0, done.stderr
    assert "MMSEARCH_QDRANT_URL=path:" in done.stdout and "photos" in done.stderr  # progress
    again = migrate(tmp_path / "data", "--to", f"path:{server_dir}", "--collections", "photos")
    assert again.returncode == 0, again.stderr
    missing = migrate(tmp_path / "data", "--to", f"path:{server_dir}", "--collections", "nope")
    assert missing.returncode == 1 and "nope" in missing.stderr

    edge = EdgeVectorStore(tmp_path / "data" / "qdrant")
    server = QdrantServerStore(QdrantClient(path=str(server_dir)))
    try:
        assert_same_answers(edge, server)
    finally:
        edge.close()
        server.close()


def assert_same_answers(edge: VectorStore, server: VectorStore) -> None:
    assert server.list_aliases() == edge.list_aliases() == {"photos": "photos--v1"}
    assert server.list_specs() == edge.list_specs()
    assert server.count("photos") == edge.count("photos") == 16
    encoder = get_encoder(edge.spec("photos").model)
    [text] = encoder.embed_texts(["generated picture number 3"])
    [image] = edge.retrieve("photos", [edge.scroll("photos", limit=1)[0][0].id], True)
    for query in (text, image.vectors["image"]):
        for flt in (None, ALBUM):
            for using in ("image", "text"):
                args = {"using": using, "filter": flt, "limit": 10}
                found = edge.search("photos", query, **args)
                assert found or using == "text"
                assert_same_hits(found, server.search("photos", query, **args), str(args))
