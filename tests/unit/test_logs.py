"""Log records: JSON lines that carry the job, collection and batch of the block they come from."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from mmsearch.infra.logs import ContextFilter, JsonFormatter, log_context


@pytest.fixture()
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines to a buffer through the platform's filter and formatter."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("mmsearch.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def records(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_records_carry_the_context_of_their_block_only(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = json_log
    logger.info("before")
    with log_context(job="j1", collection="photos"):
        logger.info("inside %s", "job")
        with log_context(batch="b3"):
            logger.warning("inside batch")
        logger.info("batch done")
    logger.info("after")
    got = records(out)
    assert [r["message"] for r in got] == [
        "before",
        "inside job",
        "inside batch",
        "batch done",
        "after",
    ]
    context = [{k: r[k] for k in ("job", "collection", "batch") if k in r} for r in got]
    assert context == [
        {},
        {"job": "j1", "collection": "photos"},
        {"job": "j1", "collection": "photos", "batch": "b3"},
        {"job": "j1", "collection": "photos"},
        {},
    ]
    assert got[2]["level"] == "WARNING" and got[2]["logger"] == "mmsearch.test.logs"
    assert all(str(r["ts"]).endswith("+00:00") for r in got)


def test_exceptions_are_one_json_line(json_log: tuple[logging.Logger, io.StringIO]) -> None:
    logger, out = json_log
    try:
        raise ValueError("bad pixels\nsecond line")
    except ValueError:
        logger.exception("batch failed")
    assert len(out.getvalue().splitlines()) == 1
    (record,) = records(out)
    assert record["message"] == "batch failed"
    assert "ValueError: bad pixels" in str(record["exception"])


def test_a_process_that_shares_the_output_names_itself() -> None:
    record = logging.LogRecord("mmsearch.x", logging.INFO, __file__, 1, "batch %s", ("b1",), None)
    assert json.loads(JsonFormatter("worker").format(record))["process"] == "worker"
    assert "process" not in json.loads(JsonFormatter().format(record))
