"""``get_logger``: Protean's structlog ``BoundLogger`` (keyword fields, bind, unbind, new,
exception), the task's context, ``log_method_call`` and ``configure_for_testing``."""

from __future__ import annotations

import asyncio
import logging

import pytest
import structlog

from archipel.utils.logging import (
    add_context,
    bind_event_context,
    clear_context,
    configure_for_testing,
    configure_logging,
    current_context,
    get_logger,
    log_method_call,
    unbind_event_context,
)
from tests.unit.logs.conftest import json_lines


def test_keyword_fields_bind_unbind_and_new(capsys):
    configure_logging(format="json")
    log = get_logger("myapp")
    bound = log.bind(customer_id="c-1", tier="gold")
    bound.info("checkout", total=12)
    bound.unbind("tier").info("unbound")
    bound.new(session_id="s-1").info("fresh")
    first, second, third = json_lines(capsys.readouterr().err)
    assert (first["customer_id"], first["tier"], first["total"]) == ("c-1", "gold", 12)
    assert second["customer_id"] == "c-1" and "tier" not in second
    assert third["session_id"] == "s-1" and "customer_id" not in third


def test_exception_carries_the_traceback_in_one_json_line(capsys):
    configure_logging(format="json")
    try:
        {}["missing"]
    except KeyError:
        get_logger("myapp").exception("lookup_failed", key="missing")
    (line,) = json_lines(capsys.readouterr().err)
    assert line["level"] == "error" and line["key"] == "missing"
    assert "KeyError: 'missing'" in line["exception"] and "Traceback" in line["exception"]


def test_positional_arguments_are_interpolated(capsys):
    configure_logging(format="json")
    get_logger("myapp").warning("%s of %d", "three", 3)
    assert json_lines(capsys.readouterr().err)[0]["event"] == "three of 3"


def test_levels_below_the_logger_level_are_dropped_before_processing(capsys):
    seen = []

    def spy(logger, method, event_dict):
        seen.append(event_dict["event"])
        return event_dict

    configure_logging(format="json", level="WARNING", extra_processors=[spy])
    get_logger("myapp").info("quiet")
    get_logger("myapp").warning("loud")
    assert seen == ["loud"]
    assert [line["event"] for line in json_lines(capsys.readouterr().err)] == ["loud"]


def test_without_configuration_events_go_through_logging_and_reach_caplog(caplog):
    structlog.reset_defaults()
    with caplog.at_level(logging.INFO, logger="myapp"):
        get_logger("myapp").info("order_placed", order_id="o-1", total=9.5)
    (record,) = [r for r in caplog.records if r.name == "myapp"]
    assert record.getMessage() == "order_placed order_id=o-1 total=9.5"
    assert record.levelno == logging.INFO


def test_a_program_that_configured_structlog_keeps_its_configuration():
    seen = []
    structlog.configure(processors=[lambda _l, _m, ed: seen.append(ed["event"]) or "x"], logger_factory=structlog.ReturnLoggerFactory())
    assert get_logger("myapp").info("mine") == "x"
    assert seen == ["mine"]


def test_context_reaches_structlog_and_stdlib_lines_of_this_task_only(capsys):
    configure_logging(format="json")
    add_context(request_id="r-1")
    bind_event_context(tier="gold", order_total=12)
    unbind_event_context("order_total", "never_bound")
    assert current_context() == {"request_id": "r-1", "tier": "gold"}

    async def other_task():
        clear_context()  # a task's copy: the caller's context is untouched
        logging.getLogger("myapp").warning("in another task")

    asyncio.run(other_task())
    get_logger("myapp").warning("structured")
    logging.getLogger("myapp").warning("plain")
    other, structured, plain = json_lines(capsys.readouterr().err)
    assert "request_id" not in other
    assert structured["request_id"] == plain["request_id"] == "r-1"
    assert structured["tier"] == plain["tier"] == "gold" and "order_total" not in plain
    clear_context()
    assert current_context() == {}


def test_an_explicit_field_wins_over_the_context(capsys):
    configure_logging(format="json")
    add_context(request_id="r-1")
    get_logger("myapp").warning("override", request_id="r-2")
    assert json_lines(capsys.readouterr().err)[0]["request_id"] == "r-2"


class Cart:
    @log_method_call
    def add(self, sku, quantity=1):
        if quantity < 1:
            raise ValueError("quantity must be positive")
        return quantity * 2


def test_log_method_call_logs_start_end_and_errors_at_debug(capsys):
    configure_logging(format="json", level="DEBUG")
    assert Cart().add("b-1", quantity=3) == 6
    with pytest.raises(ValueError):
        Cart().add("b-1", quantity=0)
    lines = json_lines(capsys.readouterr().err)
    assert [line["event"] for line in lines] == [
        "method_call_start", "method_call_end", "method_call_start", "method_call_error"
    ]
    assert lines[0]["method"] == "add" and lines[0]["args"] == ["b-1"]
    assert lines[0]["kwargs"] == {"quantity": 3} and lines[1]["result"] == 6
    assert lines[3]["error"] == "quantity must be positive" and "ValueError" in lines[3]["exception"]
    assert Cart.add.__name__ == "add"


def test_log_method_call_is_silent_above_debug(capsys):
    configure_logging(format="json", level="INFO")
    Cart().add("b-1")
    assert capsys.readouterr().err == ""


def test_configure_for_testing_quiets_and_drops_file_handlers(tmp_path):
    configure_logging(level="DEBUG", log_dir=tmp_path)
    configure_for_testing()
    root = logging.getLogger()
    assert root.level == logging.WARNING
    assert not any(isinstance(h, logging.FileHandler) for h in root.handlers)
    assert len(root.handlers) == 1


def test_a_logger_used_before_a_new_configuration_follows_it(capsys):
    log = get_logger("myapp")  # a module-level logger, cached on first use
    configure_logging(format="json")
    log.warning("first", password="p1")
    configure_logging(format="json", redact=["card"], level="ERROR")
    log.warning("dropped now")
    log.error("second", password="p2", card="4111")
    first, second = json_lines(capsys.readouterr().err)
    assert first["password"] == "p1"
    assert second["password"] == second["card"] == "[REDACTED]"
