"""README.md's curl examples run as written, in order, against a real standalone platform.

The blocks are read from README.md when the test runs, so an edit that breaks one fails here.
Every ```bash block that calls the API (`localhost:8080`) runs in one bash session, as a user
following the README in one terminal would, with the clone's folder as the working directory:
its `./photos` comes from the README's own block that makes the sample pictures. A block whose
first line is `# not run by the README test: <why>` is left out. Only the address and the model
names that cannot be downloaded here are replaced.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from mmsearch.infra.testing.platform import Platform, platform_with_redis

README = Path(__file__).resolve().parents[2] / "README.md"
API = "localhost:8080"
NOT_RUN = "# not run by the README test:"
PHOTOS_BLOCK = "mkdir -p photos && .venv/bin/python - <<'PY'"
# README names real weights; the test platform has no internet, so they become offline ones.
OFFLINE_MODELS = {
    "ViT-L-14/laion2b_s32b_b82k": "mmsearch-tiny/random:3",
    "itm:Salesforce/blip-itm-base-coco": "itm:tiny-blip/random",
}
# Every curl call reports its status on stderr, and a 4xx or 5xx answer stops the script.
PRELUDE = """set -eu -o pipefail
curl() {
  command curl --fail-with-body \\
    --write-out '%{stderr}HTTP %{http_code} %{method} %{url_effective}\\n' "$@"
}
"""
STATUS = re.compile(r"^HTTP (\d{3}) (\S+) (\S+)$", re.MULTILINE)

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Block:
    section: str
    text: str


def bash_blocks(readme: str) -> list[Block]:
    """Every ```bash block of the README, with the title of the section it is in."""
    blocks, section = [], ""
    fence = re.compile(r"^## ([^\n]+)$|^([ \t]*)```bash\n(.*?)^\2```$", re.MULTILINE | re.DOTALL)
    for match in fence.finditer(readme):
        if match[1] is not None:
            section = match[1]
        else:  # a block in a list item is indented as a whole
            blocks.append(Block(section, textwrap.dedent(match[3])))
    return blocks


def api_blocks(blocks: list[Block]) -> list[Block]:
    """The blocks that call the API, less those marked as not run."""
    return [b for b in blocks if API in b.text and not b.text.startswith(NOT_RUN)]


def script(blocks: list[Block], platform: Platform) -> str:
    """One bash script of the blocks, each announced on stderr, calling `platform`."""
    parts = [PRELUDE]
    for number, block in enumerate(blocks, 1):
        text = block.text.replace(API, f"127.0.0.1:{platform.port}")
        for named, offline in OFFLINE_MODELS.items():
            text = text.replace(named, offline)
        parts.append(f"echo '### block {number} ({block.section})' >&2\n{text}\necho\n")
    return "\n".join(parts)


def curl_calls(blocks: list[Block]) -> int:
    """How many curl commands the blocks hold (a loop runs its own at least once)."""
    return sum(
        line.count("curl ")
        for b in blocks
        for line in b.text.splitlines()
        if not line.lstrip().startswith("#")
    )


def make_photos(blocks: list[Block], clone: Path) -> Path:
    """Run the README's block that makes ./photos (with this interpreter); the folder."""
    (block,) = [b for b in blocks if PHOTOS_BLOCK in b.text]
    text = block.text.replace(".venv/bin/python", sys.executable)
    subprocess.run(["bash", "-euc", text], cwd=clone, check=True, timeout=60)
    return clone / "photos"


def test_the_readme_api_examples_run_in_order(
    tmp_path: Path, s3_endpoint: str, tiny_model: str
) -> None:
    blocks = bash_blocks(README.read_text())
    calls = api_blocks(blocks)
    sections = {b.section for b in calls}
    assert {"Walkthrough (curl)", "Retrieval: every query kind"} <= sections
    clone = tmp_path / "clone"
    clone.mkdir()
    photos = make_photos(blocks, clone)
    named = set(re.findall(r"photos/(\w+\.jpg)", "".join(b.text for b in calls)))
    assert named and named <= {p.name for p in photos.iterdir()}, "a photo no block makes"

    extra = {"file_root": str(photos), "models": ",".join(OFFLINE_MODELS.values())}
    with platform_with_redis(tmp_path / "platform", s3_endpoint, tiny_model, **extra) as p:
        (clone / "walkthrough.sh").write_text(script(calls, p))
        run = subprocess.run(
            ["bash", "walkthrough.sh"], cwd=clone, capture_output=True, text=True, timeout=600
        )
        answers = STATUS.findall(run.stderr)
        assert run.returncode == 0, f"{run.stderr[-4000:]}\n{run.stdout[-2000:]}"
        assert len(answers) >= curl_calls(calls)
        assert all(code.startswith("2") for code, _, _ in answers), answers
        jobs = p.expect(200, "GET", "/v1/jobs")["data"]
        assert jobs and all(job["status"] == "succeeded" for job in jobs), jobs
        check_the_walkthroughs_data(p)


def check_the_walkthroughs_data(platform: Platform) -> None:
    """What the blocks left: the collections and ids later blocks rely on, answers without
    nulls, and a recommendation from an unknown id naming that id."""
    photos = platform.expect(200, "GET", "/v1/collections/photos")
    assert photos["count"] == 3 and photos["version"].endswith("--v2")
    found = platform.search("photos", {"text": "a dog on a beach", "limit": 10})
    assert {hit["id"] for hit in found["results"]} == {"beach", "surf", "city"}
    assert "groups" not in found and all("collection" not in h for h in found["results"])
    archive = platform.expect(200, "GET", "/v1/collections/archive")
    assert archive["count"] == 4
    surf = platform.search("photos", {"text": "surfers", "mode": "keyword"})["results"]
    assert [hit["id"] for hit in surf] == ["surf"]  # the re-embedded version has the index too
    plain = platform.expect(200, "GET", "/v1/collections/plain")
    assert plain["keyword"]["ready"] is True and plain["count"] == 1
    words = platform.search("plain", {"text": "pines in the fog", "mode": "keyword"})["results"]
    assert [hit["id"] for hit in words] == ["forest"]
    body = {"recommend": {"positive": ["beach", "nope"], "negative": ["gone"]}}
    answer = platform.request("POST", "/v1/collections/photos/search", json=body)
    error = answer.json()["error"]
    assert answer.status_code == 404 and error["code"] == "item_not_found"
    assert error["details"]["missing"] == ["nope", "gone"]
    assert "'nope'" in error["message"] and "'gone'" in error["message"]
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    assert not uuid.search(answer.text), answer.text
