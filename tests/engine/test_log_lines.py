"""Structured log lines: one line per failure, saying the decision taken, with the message's ids."""

from __future__ import annotations

import io
import json
import logging

import pytest

from archipel.engine import run_server
from archipel.utils.logs import configure_logging
from tests.engine.bank import BEHAVIOUR


@pytest.fixture
def json_log():
    """Everything logged during the test, as parsed JSON lines."""
    stream = io.StringIO()
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    handler = configure_logging("json", logging.INFO, stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(before[0])


def test_each_failure_is_one_json_line_with_its_decision_and_ids(make_bank, json_log):
    BEHAVIOUR["transient"] = True  # a TimeoutError: retried, then dead-lettered
    bank = make_bank(partitions=1, max_retries=2)
    deposit = bank.elements["Deposit"]
    with bank.domain_context():
        bank.process(deposit(account_id="bad", amount=-5, seq=1))
    assert run_server(bank, test_mode=True) == 0

    failures = [line for line in json_log() if line.get("decision")]
    assert [f["decision"] for f in failures] == ["retry", "retry", "dead-lettered"]
    assert [f["attempt"] for f in failures] == [1, 2, 3]
    assert {f["max_attempts"] for f in failures[:2]} == {3}
    first = failures[0]
    assert first["level"] == "WARNING" and failures[-1]["level"] == "ERROR"
    assert first["logger"] == "archipel.engine.consumer"
    assert first["time"].endswith("Z") and "T" in first["time"]
    assert first["subscription"].endswith("LedgerProjector")
    assert first["message_type"].endswith("Deposited.v1")
    assert first["message_id"] and first["correlation_id"]
    assert len({f["message_id"] for f in failures}) == 1  # the same message every time
    assert "dead-lettered as" in failures[-1]["message"] and failures[-1]["error"].startswith("TimeoutError")
    assert not any("Traceback" in line["message"] for line in failures)  # no stack per retry


def test_text_lines_start_with_iso_time_and_level():
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("text", "INFO", stream)
    try:
        logging.getLogger("archipel.test").info(
            "hello %s", "world", extra={"message_id": "m-1", "correlation_id": "c-1"}
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    line = stream.getvalue().strip()
    stamp, level_name, logger, rest = line.split(" ", 3)
    assert stamp[:4].isdigit() and stamp.endswith("Z")
    assert (level_name, logger) == ("INFO", "archipel.test")
    assert rest == "[message_id=m-1 correlation_id=c-1] hello world"


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="'xml'"):
        configure_logging("xml")  # type: ignore[arg-type]
