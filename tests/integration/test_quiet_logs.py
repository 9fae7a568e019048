"""A standalone's log says each state change once: no line per readiness poll, no third-party
chatter (Celery's banner and task lines included), no tracebacks for conditions the API answers
with an error code; a model that cannot be loaded is reported, to the client and on /readyz,
with its cause."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from mmsearch.infra.testing.platform import platform_with_redis

OFFLINE_MODEL = "ViT-B-32/laion2b_s34b_b79k"  # not in the model cache, HF_HUB_OFFLINE set
LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) (?P<logger>\S+): (?P<message>.*)$")


@pytest.mark.slow  # a platform of its own
def test_a_session_logs_each_state_change_once(
    tmp_path: Path, s3_endpoint: str, tiny_model: str
) -> None:
    with platform_with_redis(tmp_path, s3_endpoint, tiny_model, models=OFFLINE_MODEL) as platform:
        for _ in range(3):
            platform.expect(200, "GET", "/readyz")
        platform.expect(404, "POST", "/v1/collections/nowhere/search", json={"text": "x"})
        for _ in range(2):
            body = platform.expect(
                503, "POST", "/v1/collections", json={"name": "vb", "model": OFFLINE_MODEL}
            )
            assert body["error"]["code"] == "model_unavailable"
            assert "offline" in body["error"]["message"]
            assert "RuntimeError" not in body["error"]["message"]
        ready = platform.expect(200, "GET", "/readyz")
        assert "offline" in ready["models"][OFFLINE_MODEL]
        platform.create_collection("quiet", tiny_model)
        job = platform.ingest("quiet", {"items": [{"uri": "s3://no-such-bucket/a.jpg"}]})
        assert platform.wait_job(job)["failed"] == 1
    log = platform.log_path.read_text()
    lines = [m for m in map(LINE.match, log.splitlines()) if m]
    assert "Traceback" not in log
    assert "SecurityWarning" not in log
    # Celery's start banner and its line per task received and run are for DEBUG.
    assert "[config]" not in log and "[queues]" not in log and ".> transport:" not in log
    task_lines = [m.group(0) for m in lines if m.group("logger").startswith("celery")]
    assert not [t for t in task_lines if " received" in t or "succeeded in" in t], task_lines
    assert not [m.group(0) for m in lines if m.group("logger") in ("root", "open_clip")]
    warnings = Counter(m.group("message") for m in lines if m.group("level") == "WARNING")
    assert warnings and max(warnings.values()) == 1, warnings
    ready_lines = [m for m in lines if m.group("message").startswith(f"model {tiny_model} ready")]
    assert len(ready_lines) == 1, ready_lines
    failures = [m for m in lines if OFFLINE_MODEL in m.group("message") and "offline" in m.group(0)]
    assert len(failures) == 1, failures
