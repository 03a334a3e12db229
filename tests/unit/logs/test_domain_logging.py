"""``Domain.configure_logging``, ``[logging]`` of ``domain.toml``, correlation ids of the message
being handled on every line, and ``Domain.init()`` configuring logging as Protean's does."""

from __future__ import annotations

import logging

import pytest

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseCommandHandler,
    BaseEvent,
    BaseEventHandler,
    handle,
)
from archipel.errors import ConfigurationError
from archipel.fields import Identifier
from archipel.utils.globals import current_domain, g
from archipel.utils.log_filters import CorrelationFilter
from archipel.utils.log_setup import HANDLER_MARK
from archipel.utils.logging import get_logger
from tests.unit.logs.conftest import bare_root, json_lines


def shop(make_domain, **logging_table):
    domain = make_domain(logging=logging_table) if logging_table else make_domain()
    seen: dict[str, str] = {}

    @domain.aggregate
    class Order(BaseAggregate):
        order_id = Identifier(identifier=True)

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        order_id = Identifier()

    @domain.command(part_of=Order)
    class Place(BaseCommand):
        order_id = Identifier()

    @domain.command_handler(part_of=Order)
    class Orders(BaseCommandHandler):
        @handle(Place)
        def place(self, command):
            seen["command_id"] = command._metadata.id
            seen["correlation_id"] = command._metadata.correlation_id
            get_logger("myapp.orders").warning("placing", order_id=command.order_id)
            logging.getLogger("myapp.orders").warning("placing (stdlib)")
            order = Order(order_id=command.order_id)
            order.raise_(Placed(order_id=command.order_id))
            current_domain.repository_for(Order).add(order)

    @domain.event_handler(part_of=Order)
    class Mailer(BaseEventHandler):
        @handle(Placed)
        def mail(self, event):
            seen["event_id"] = event._metadata.id
            logging.getLogger("myapp.mail").warning("mailing")

    domain.Place = Place
    return domain, seen


def test_every_line_inside_a_handler_carries_the_message_ids(make_domain, capsys):
    domain, seen = shop(make_domain, format="json")
    domain.configure_logging()
    domain.init()
    with domain.domain_context():
        domain.process(domain.Place(order_id="o-1"))
        logging.getLogger("myapp").warning("after")
    lines = json_lines(capsys.readouterr().err)
    access = [line for line in lines if line.get("logger") == "archipel.access"]
    assert [line["handler"] for line in access] == ["Orders.place", "Mailer.mail"]  # Protean's wide events
    assert {line["correlation_id"] for line in access} == {seen["correlation_id"]}
    structured, plain, mail, after = [line for line in lines if line not in access]
    assert structured["event"] == "placing" and structured["order_id"] == "o-1"
    for line in (structured, plain):
        assert line["correlation_id"] == seen["correlation_id"]
    assert mail["correlation_id"] == seen["correlation_id"]
    assert mail["causation_id"] == seen["command_id"]
    assert "correlation_id" not in after  # no message, no request: no empty ids on the line


def test_g_and_the_request_correlation_id_are_the_fallbacks(make_domain, capsys):
    from archipel.utils.globals import current_correlation_id

    domain, _ = shop(make_domain, format="json")
    domain.configure_logging()
    token = current_correlation_id.set("req-9")
    try:
        logging.getLogger("myapp").warning("request")
        with domain.domain_context():
            g.correlation_id, g.causation_id = "job-1", "cron"
            get_logger("myapp").warning("job")
    finally:
        current_correlation_id.reset(token)
    request, job = json_lines(capsys.readouterr().err)
    assert request["correlation_id"] == "req-9"
    assert (job["correlation_id"], job["causation_id"]) == ("job-1", "cron")


def test_the_filter_writes_ids_for_format_strings_and_keeps_given_ones():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    CorrelationFilter().filter(record)
    assert (record.correlation_id, record.causation_id) == ("", "")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    record.correlation_id = "given"
    CorrelationFilter().filter(record)
    assert record.correlation_id == "given" and record.causation_id == ""


def test_the_table_applies_and_explicit_arguments_win(make_domain, tmp_path, capsys):
    domain, _ = shop(
        make_domain, level="ERROR", format="json", log_dir=str(tmp_path), log_file_prefix="shop",
        per_logger={"myapp.orders": "CRITICAL"}, redact=["card"],
    )
    domain.configure_logging(level="WARNING")
    root = logging.getLogger()
    assert root.level == logging.WARNING
    assert logging.getLogger("myapp.orders").level == logging.CRITICAL
    assert (tmp_path / "shop.log").exists() and (tmp_path / "shop_error.log").exists()
    get_logger("myapp").warning("paid", card="4111", password="p")  # defaults still masked
    (line,) = json_lines(capsys.readouterr().err)
    assert line["card"] == line["password"] == "[REDACTED]"


def test_the_level_variable_beats_the_table(make_domain, monkeypatch):
    monkeypatch.setenv("PROTEAN_LOG_LEVEL", "CRITICAL")
    domain, _ = shop(make_domain, level="DEBUG")
    domain.configure_logging()
    assert logging.getLogger().level == logging.CRITICAL


def test_an_empty_redact_list_turns_redaction_off(make_domain, capsys):
    domain, _ = shop(make_domain, format="json", redact=[])
    domain.configure_logging()
    get_logger("myapp").warning("login", password="hunter2")
    assert json_lines(capsys.readouterr().err)[0]["password"] == "hunter2"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"levle": "INFO"}, r"Unknown key\(s\) 'levle' in \[logging\]; known: backup_count, format, http"),
        ({"level": "LOUD"}, "Invalid logging.level 'LOUD'; expected one of DEBUG, INFO"),
        ({"format": "text"}, "Invalid logging.format 'text'; expected one of 'auto', 'console', 'json'"),
        ({"max_bytes": -5}, "Invalid logging.max_bytes -5"),
        ({"redact": "password"}, "Invalid logging.redact 'password'; expected a list"),
        ({"per_logger": {"myapp": "LOUD"}}, "Invalid logging.per_logger.'myapp' level 'LOUD'"),
        ({"sampling": {"enabeld": True}}, r"Unknown key\(s\) 'enabeld' in \[logging.sampling\]; known: always_keep_errors"),
        ({"log_file_prefix": ""}, "Invalid logging.log_file_prefix ''"),
    ],
)
def test_a_wrong_table_fails_init_naming_the_key(make_domain, table, message):
    domain, _ = shop(make_domain, **table)
    with pytest.raises(ConfigurationError, match=message):
        domain.init()


def test_protean_access_keys_are_acted_on_without_warnings(make_domain, caplog):
    domain, _ = shop(make_domain, slow_query_threshold_ms=50, http={"enabled": False, "exclude_paths": []})
    with caplog.at_level(logging.WARNING, logger="archipel.config"):
        domain.init()
    assert not [r for r in caplog.records if "logging." in r.getMessage()]


# -- Domain.init() configures logging when nothing did ------------------------------


def own_handlers():
    return [h for h in logging.getLogger().handlers if getattr(h, HANDLER_MARK, False)]


def test_init_configures_logging_when_the_root_logger_has_no_handler(make_domain, monkeypatch, capsys):
    bare_root()
    monkeypatch.setenv("ARCHIPEL_ENV", "production")
    domain, seen = shop(make_domain)
    domain.init()
    assert len(own_handlers()) == 1 and logging.getLogger().level == logging.INFO
    with domain.domain_context():
        domain.process(domain.Place(order_id="o-2"))
    lines = json_lines(capsys.readouterr().err)
    assert [line["event"] for line in lines] == [
        "placing", "placing (stdlib)", "access.handler_completed", "mailing", "access.handler_completed"
    ]
    assert {line["correlation_id"] for line in lines} == {seen["correlation_id"]}


def test_init_leaves_configured_logging_alone(make_domain):
    before = list(logging.getLogger().handlers)  # pytest's
    assert before
    domain, _ = shop(make_domain)
    domain.init()
    assert logging.getLogger().handlers == before


@pytest.mark.parametrize("variable", ["ARCHIPEL_NO_AUTO_LOGGING", "PROTEAN_NO_AUTO_LOGGING"])
@pytest.mark.parametrize("value", ["1", "true", "TRUE"])
def test_the_escape_hatch(make_domain, monkeypatch, variable, value):
    bare_root()
    monkeypatch.setenv(variable, value)
    domain, _ = shop(make_domain)
    domain.init()
    assert logging.getLogger().handlers == []


def test_a_failure_never_fails_init_and_is_printed(make_domain, monkeypatch, capsys):
    bare_root()
    monkeypatch.setenv("ARCHIPEL_LOG_LEVEL", "verbose")
    domain, _ = shop(make_domain)
    domain.init()
    assert domain.initialized
    err = capsys.readouterr().err
    assert "Warning: auto-configuration of logging failed: ARCHIPEL_LOG_LEVEL 'verbose' is not a log level" in err


def test_a_wrong_table_is_init_error_not_a_logging_warning(make_domain, capsys):
    bare_root()
    domain, _ = shop(make_domain, format="xml")
    with pytest.raises(ConfigurationError, match="logging.format 'xml'"):
        domain.init()
    assert logging.getLogger().handlers == [] and "auto-configuration" not in capsys.readouterr().err


def test_the_test_environment_logs_warnings_only(make_domain, monkeypatch, capsys):
    bare_root()
    monkeypatch.setenv("ARCHIPEL_ENV", "test")
    domain, _ = shop(make_domain)
    domain.init()
    assert logging.getLogger().level == logging.WARNING
    logging.getLogger("archipel.engine").info("hidden")
    get_logger("myapp").info("hidden too")
    assert capsys.readouterr().err == ""


def test_the_servers_lines_carry_the_message_ids_too(make_domain):
    import io

    from archipel.utils import logs

    domain, seen = shop(make_domain)
    domain.init()
    stream = io.StringIO()
    logs.configure_logging("json", "INFO", stream)
    with domain.domain_context():
        domain.process(domain.Place(order_id="o-3"))
        logging.getLogger("myapp").warning("outside")
    lines = [line for line in json_lines(stream.getvalue()) if not str(line.get("message")).startswith("access.")]
    structured, plain, mail, outside = lines
    assert structured["message"] == "placing" and structured["order_id"] == "o-3"
    assert structured["correlation_id"] == plain["correlation_id"] == seen["correlation_id"]
    assert mail["causation_id"] == seen["command_id"]
    assert "correlation_id" not in outside and "causation_id" not in outside
