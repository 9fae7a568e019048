"""The client commands at the edges a new user meets first: ids that match the server's, one-line
errors for a missing file, unusable S3 or a bare host:port, and cancelling a finished job."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from mmsearch.infra.media.uris import file_uri
from mmsearch.infra.testing.platform import Platform
from mmsearch.infra.testing.s3 import s3_settings_env
from tests.fixtures.platform import new_collection
from tests.integration.test_cli import ROOT, mmsearch
from tests.integration.test_cli_jobs import photo_folder


def mmsearch_bare(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The CLI with no server behind it, with the given settings."""
    return subprocess.run(
        [sys.executable, "-m", "mmsearch.api.cli", *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The one line, after any progress lines, of a command that failed with exit 2."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    said = [line for line in done.stderr.splitlines() if not line.startswith("upload:")]
    assert len(said) == 1, done.stderr
    return said[0]


def test_folder_ingest_and_the_same_folder_as_a_prefix_are_one_set_of_items(
    platform: Platform, tiny_model: str
) -> None:
    folder = photo_folder(platform, 3)
    (folder / "sub").mkdir()
    (folder / "gen_0000.jpg").rename(folder / "sub" / "gen_0000.jpg")
    name = new_collection(platform, "cli-ids", tiny_model)
    done = mmsearch(platform, "ingest", str(folder), "--collection", name)
    assert done.returncode == 0, done.stdout + done.stderr
    platform.wait_job(platform.ingest(name, {"prefix": file_uri(folder) + "/"}))
    listed = platform.request("GET", f"/v1/collections/{name}/points?vectors=false").json()
    ids = sorted(p["id"] for p in listed["data"])
    assert ids == sorted(file_uri(p) for p in folder.rglob("*.jpg"))
    assert platform.request("GET", f"/v1/collections/{name}").json()["count"] == 3


def test_single_file_ingest_is_known_by_its_uri(platform: Platform, tiny_model: str) -> None:
    photo = next(photo_folder(platform, 1).iterdir())
    name = new_collection(platform, "cli-ids", tiny_model)
    done = mmsearch(platform, "ingest", str(photo), "--collection", name)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = platform.request("GET", f"/v1/collections/{name}/points?vectors=false").json()
    assert [p["id"] for p in listed["data"]] == [file_uri(photo)]


def test_eval_with_a_missing_captions_file_or_images_folder_says_which(tmp_path: Path) -> None:
    missing = tmp_path / "captions.txt"
    said = one_line_error(mmsearch_bare("eval", "--captions", str(missing), "--images", "x"))
    assert str(missing) in said
    missing.write_text("image,caption\na.jpg,a cat\n")
    said = one_line_error(
        mmsearch_bare("eval", "--captions", str(missing), "--images", str(tmp_path / "none"))
    )
    assert str(tmp_path / "none") in said


def upload(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "trip").mkdir(exist_ok=True)
    (tmp_path / "trip" / "a.jpg").write_bytes(b"not looked at before the upload")
    return mmsearch_bare(
        "ingest",
        str(tmp_path),
        "--collection",
        "photos",
        "--upload",
        "s3://some-bucket/phone",
        "--api-url",
        f"http://127.0.0.1:{free_port()}",
        **env,
    )


def test_upload_without_credentials_names_the_settings_to_check(tmp_path: Path) -> None:
    nowhere = str(tmp_path / "none")
    said = one_line_error(
        upload(
            tmp_path,
            MMSEARCH_S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
            MMSEARCH_S3_ACCESS_KEY="",
            MMSEARCH_S3_SECRET_KEY="",
            AWS_ACCESS_KEY_ID="",
            AWS_SECRET_ACCESS_KEY="",
            AWS_SHARED_CREDENTIALS_FILE=nowhere,
            AWS_CONFIG_FILE=nowhere,
        )
    )
    assert "credentials" in said and "MMSEARCH_S3_ACCESS_KEY" in said


def test_upload_to_an_endpoint_that_refuses_says_so_without_secrets(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    said = one_line_error(
        upload(
            tmp_path,
            MMSEARCH_S3_ENDPOINT_URL=endpoint,
            MMSEARCH_S3_ACCESS_KEY="AKIAEXAMPLEKEY",
            MMSEARCH_S3_SECRET_KEY="very-secret-value",
        )
    )
    assert endpoint in said and "MMSEARCH_S3_ENDPOINT_URL" in said
    assert "very-secret-value" not in said and "AKIAEXAMPLEKEY" not in said


def test_an_api_url_without_a_scheme_is_taken_as_http(platform: Platform) -> None:
    bare = platform.base.removeprefix("http://")
    listed = mmsearch(platform, "collections", "list", "--api-url", bare)
    assert listed.returncode == 0, listed.stderr
    wrong = mmsearch(platform, "collections", "list", "--api-url", "ftp://" + bare)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "--api-url" in wrong.stderr


def test_cancelling_a_finished_job_says_nothing_was_cancelled(
    platform: Platform, tiny_model: str
) -> None:
    name = new_collection(platform, "cli-jobs", tiny_model)
    folder = photo_folder(platform, 2)
    manifest = folder.parent / f"{folder.name}.jsonl"
    uris = [file_uri(p) for p in sorted(folder.iterdir())] + [file_uri(folder / "gone.jpg")]
    manifest.write_text("".join(json.dumps({"uri": u}) + "\n" for u in uris))
    job_id = mmsearch(platform, "ingest", str(manifest), "--collection", name, "--detach").stdout
    platform.wait_job(job_id.strip())
    cancelled = mmsearch(platform, "jobs", "cancel", job_id.strip())
    assert cancelled.returncode == 1, cancelled.stderr
    assert "had already finished (completed_with_errors)" in cancelled.stderr
    assert "nothing was cancelled" in cancelled.stderr
    shown = json.loads(cancelled.stdout)
    assert shown["status"] == "completed_with_errors"
    assert [e["code"] for e in shown["errors"]] == ["not_found"] and shown["error_count"] == 1


def test_upload_refused_by_the_server_says_what_it_answered(
    s3_endpoint: str, tmp_path: Path
) -> None:
    env = {**s3_settings_env(s3_endpoint), "MMSEARCH_S3_SECRET_KEY": "not-the-secret"}
    said = one_line_error(upload(tmp_path, **env))
    assert "s3://some-bucket/phone/" in said and "MMSEARCH_S3_SECRET_KEY" in said
    assert "not-the-secret" not in said, said


def test_ingest_of_a_path_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    said = one_line_error(mmsearch_bare("ingest", str(tmp_path / "nothing"), "--collection", "x"))
    assert str(tmp_path / "nothing") in said
