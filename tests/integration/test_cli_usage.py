"""`mmsearch search` and `mmsearch collections` as real processes: image queries, the result
table, payload schemas, confirmation before a delete, and usage errors (exit 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.testing.photos import generated_photos
from mmsearch.infra.testing.platform import Platform
from tests.fixtures.platform import new_collection, unique_name
from tests.integration.test_cli import mmsearch


def indexed_folder(platform: Platform, model: str, count: int) -> tuple[str, Path]:
    """A new collection holding `count` generated photos with captions; its name and folder."""
    name = new_collection(platform, "cli-usage", model)
    folder = platform.media_root / unique_name("cli-usage") / "holidays" / "photos"
    folder.mkdir(parents=True)
    items = []
    for photo in generated_photos(count):
        (folder / photo.name).write_bytes(photo.data)
        items.append({"uri": file_uri(folder / photo.name), "text": photo.caption})
    job = platform.request("POST", f"/v1/collections/{name}/ingest", json={"items": items})
    assert platform.wait_job(job.json()["job_id"])["status"] == "succeeded"
    return name, folder


def top_hit(platform: Platform, name: str, *query: str) -> str:
    found = mmsearch(platform, "search", *query, "--collection", name, "--json")
    assert found.returncode == 0, found.stderr
    return str(json.loads(found.stdout)["results"][0]["uri"])


def test_search_by_image_file_or_uri_and_mixed_with_text(
    platform: Platform, tiny_model: str
) -> None:
    name, folder = indexed_folder(platform, tiny_model, 5)
    photo = folder / generated_photos(5)[3].name
    assert top_hit(platform, name, "--image", str(photo)) == file_uri(photo)
    assert top_hit(platform, name, "--image", file_uri(photo)) == file_uri(photo)
    mixed = top_hit(platform, name, "a picture", "--image", str(photo), "--image-weight", "50")
    assert mixed == file_uri(photo)  # the image outweighs the text fifty to one
    missing = mmsearch(platform, "search", "--collection", name, "--image", f"{folder}/no.jpg")
    assert missing.returncode == 2 and "--image" in missing.stderr


def test_the_result_table_shows_the_end_of_each_uri_and_the_caption(
    platform: Platform, tiny_model: str
) -> None:
    name, _ = indexed_folder(platform, tiny_model, 4)
    table = mmsearch(platform, "search", "a picture", "--collection", name, "--limit", "4")
    assert table.returncode == 0, table.stderr
    rows = table.stdout.splitlines()[1:-1]
    captions = {p.name: p.caption for p in generated_photos(4)}
    shown = {}
    for row in rows:
        file_name = next(part.split("/")[-1] for part in row.split() if "/photos/" in part)
        shown[file_name] = row
    assert set(shown) == set(captions)  # every row names its own file
    assert all(captions[file_name] in row for file_name, row in shown.items())


def test_a_bad_filter_is_a_usage_error(platform: Platform, tiny_model: str) -> None:
    name = new_collection(platform, "cli-usage", tiny_model)
    bad = mmsearch(platform, "search", "x", "--collection", name, "--filter", "{must: 1}")
    assert bad.returncode == 2
    assert "usage: mmsearch search" in bad.stderr
    assert "error: --filter is not JSON" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_create_with_a_payload_schema_inline_or_from_a_file(
    platform: Platform, tiny_model: str, tmp_path: Path
) -> None:
    inline = unique_name("cli-usage")
    schema = '{"year": "integer", "place": "keyword"}'
    created = mmsearch(platform, "collections", "create", inline, "--payload-schema", schema)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["payload_schema"] == {"year": "integer", "place": "keyword"}
    (tmp_path / "schema.json").write_text('{"taken": "datetime"}')
    from_file = unique_name("cli-usage")
    args = ("collections", "create", from_file, "--payload-schema", f"@{tmp_path}/schema.json")
    assert json.loads(mmsearch(platform, *args).stdout)["payload_schema"] == {"taken": "datetime"}
    bad = mmsearch(platform, "collections", "create", unique_name("x"), "--payload-schema", "{")
    assert bad.returncode == 2 and "--payload-schema is not JSON" in bad.stderr


def test_delete_asks_unless_yes_and_refuses_without_a_terminal(
    platform: Platform, tiny_model: str
) -> None:
    name = new_collection(platform, "cli-usage", tiny_model)
    refused = mmsearch(platform, "collections", "delete", name)
    assert refused.returncode == 2 and "pass --yes" in refused.stderr
    assert platform.request("GET", f"/v1/collections/{name}").status_code == 200
    deleted = mmsearch(platform, "collections", "delete", name, "--yes")
    assert deleted.returncode == 0 and json.loads(deleted.stdout)["deleted"] is True
    assert platform.request("GET", f"/v1/collections/{name}").status_code == 404
