"""Tail sampling of the access events (``[logging.sampling]``): Protean's rules in order,
the filter on ``archipel.access``, the structlog processor, and the table's checks."""

from __future__ import annotations

import fnmatch
import logging

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from archipel.errors import ConfigurationError
from archipel.utils.access_log import access_logger, http_access_logger
from archipel.utils.sampling import TailSamplingFilter, TailSamplingProcessor, sampling_decision
from tests.unit.logs.conftest import json_lines
from tests.unit.logs.test_access_events import shop

statuses = st.sampled_from(["ok", "slow", "failed", None, "other"])
types = st.sampled_from(["Shop.PaymentTaken.v1", "Shop.OrderPlaced.v1", "Auth.Login.v1", "", None])
patterns = st.lists(st.sampled_from(["Shop.Payment*", "Auth*", "*.v2", "shop.payment*"]), max_size=3)


def expected(keep_errors, keep_slow, critical, rate, status, is_error, message_type, draw):
    """Protean's rules, written out independently of the implementation."""
    if keep_errors and (status == "failed" or is_error):
        return ("error", 1.0)
    if keep_slow and status == "slow":
        return ("slow", 1.0)
    if message_type and any(fnmatch.fnmatchcase(message_type, p) for p in critical):
        return ("critical_stream", 1.0)
    return ("random", rate) if draw < rate else None


@given(
    keep_errors=st.booleans(), keep_slow=st.booleans(), critical=patterns,
    rate=st.floats(0, 1), status=statuses, is_error=st.booleans(), message_type=types, draw=st.floats(0, 1, exclude_max=True),
)
def test_the_first_matching_rule_decides(keep_errors, keep_slow, critical, rate, status, is_error, message_type, draw):
    rules = TailSamplingFilter(rate, keep_errors, keep_slow, critical)
    assert sampling_decision(rules, status, is_error, message_type, draw) == expected(
        keep_errors, keep_slow, critical, rate, status, is_error, message_type, draw
    )


def record(name, level=logging.INFO, **fields):
    item = logging.LogRecord(name, level, __file__, 1, "access.handler_completed", (), None)
    item.__dict__.update(fields)
    return item


@given(status=statuses, level=st.sampled_from([logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]))
def test_the_filter_keeps_errors_and_slow_at_rate_zero_and_annotates_them(status, level):
    sampler = TailSamplingFilter(default_rate=0.0)
    item = record("archipel.access", level, status=status, message_type="Shop.X.v1")
    kept = sampler.filter(item)
    assert kept == (status in ("failed", "slow") or level >= logging.ERROR)
    if kept:
        assert item.sampling_decision == "kept" and item.sampling_rate == 1.0
        assert item.sampling_rule == ("slow" if status == "slow" and level < logging.ERROR else "error")


@given(name=st.sampled_from(["archipel", "archipel.accessory", "archipel.perf", "myapp.access", "root"]))
def test_records_of_other_loggers_pass_untouched(name):
    item = record(name, status="ok")
    assert TailSamplingFilter(default_rate=0.0).filter(item) and not hasattr(item, "sampling_decision")


def test_rate_one_keeps_everything_as_random_and_children_are_sampled_too():
    for name in ("archipel.access", "archipel.access.http"):
        item = record(name, status="ok")
        assert TailSamplingFilter(default_rate=1.0).filter(item) and item.sampling_rule == "random"
        assert not TailSamplingFilter(default_rate=0.0).filter(record(name, status="ok"))


def test_the_processor_drops_and_keeps_structlog_events_and_trusts_the_filter():
    processor = TailSamplingProcessor(default_rate=0.0, critical_streams=["Shop.Pay*"])
    with pytest.raises(structlog.DropEvent):
        processor(None, "info", {"logger": "archipel.access", "level": "info", "status": "ok"})
    kept = processor(None, "info", {"logger": "archipel.access", "level": "info", "message_type": "Shop.Payment.v1"})
    assert kept["sampling_rule"] == "critical_stream"
    assert processor(None, "error", {"logger": "archipel.access", "level": "error"})["sampling_rule"] == "error"
    already = {"logger": "archipel.access", "status": "ok", "sampling_decision": "kept"}
    assert processor(None, "info", dict(already)) == already
    assert processor(None, "info", {"logger": "archipel.sql", "status": "ok"}) == {"logger": "archipel.sql", "status": "ok"}


def test_bad_rules_are_errors_naming_what_is_allowed():
    with pytest.raises(ValueError, match="default_rate 1.5 is not a probability"):
        TailSamplingFilter(default_rate=1.5)
    with pytest.raises(TypeError, match="critical_streams takes a list"):
        TailSamplingProcessor(critical_streams="Shop.*")


@pytest.fixture
def no_sampling_filters():
    yield
    for logger in (access_logger, http_access_logger):
        for item in [f for f in logger.filters if isinstance(f, TailSamplingFilter)]:
            logger.removeFilter(item)


def test_configure_logging_installs_the_sampling_of_the_table(make_domain, capsys, no_sampling_filters):
    domain, _ = shop(
        make_domain, sampling={"enabled": True, "default_rate": 0.0, "critical_streams": ["*.Place.v1"]}
    )
    domain.configure_logging(level="INFO", format="json")
    assert sum(isinstance(f, TailSamplingFilter) for f in access_logger.filters) == 1
    assert sum(isinstance(f, TailSamplingFilter) for f in http_access_logger.filters) == 1
    with domain.domain_context():
        domain.process(domain.Place(order_id="s-1"))
        with pytest.raises(ValueError):
            domain.process(domain.Place(order_id="s-2", fail="x"))
    lines = [e for e in json_lines(capsys.readouterr().err) if e.get("logger") == "archipel.access"]
    kept = [(e["handler"], e["sampling_rule"]) for e in lines]
    # the event handler's and projector's ok events are dropped at rate 0
    assert kept == [("Orders.place", "critical_stream"), ("Orders.place", "error")]
    domain.config["logging"]["sampling"]["enabled"] = False
    domain.configure_logging(level="INFO")  # reconfigured without sampling: the filters go
    assert not [f for f in access_logger.filters if isinstance(f, TailSamplingFilter)]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"sampling": {"default_rate": 2}}, "logging.sampling.default_rate 2; expected a number from 0 to 1"),
        ({"sampling": {"enabled": "yes"}}, "logging.sampling.enabled 'yes'; expected true or false"),
        ({"sampling": {"critical_streams": "Pay*"}}, "critical_streams 'Pay\\*'; expected a list of strings"),
        ({"sampling": {"rate": 0.1}}, "Unknown key\\(s\\) 'rate' in \\[logging.sampling\\]"),
        ({"http": {"exclude_paths": "/health"}}, "logging.http.exclude_paths '/health'; expected a list"),
        ({"http": {"log_request_headers": 1}}, "logging.http.log_request_headers 1; expected true or false"),
        ({"slow_handler_threshold_ms": -1}, "logging.slow_handler_threshold_ms -1; expected a number >= 0"),
    ],
)
def test_a_wrong_access_setting_fails_init(make_domain, table, message):
    with pytest.raises(ConfigurationError, match=message):
        shop(make_domain, **table)


def test_access_settings_are_no_longer_warned_about(make_domain, caplog):
    with caplog.at_level(logging.WARNING, logger="archipel.config"):
        shop(make_domain, slow_query_threshold_ms=50, sampling={"enabled": True}, http={"enabled": False})
    assert not [r for r in caplog.records if "no effect" in r.getMessage()]
