"""``configure_logging``: Protean's signature, environments, levels, formats, files, per-logger
levels, dictConfig, and errors for what it does not take."""

from __future__ import annotations

import logging
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archipel.utils import logs
from archipel.utils.log_setup import HANDLER_MARK
from archipel.utils.logging import configure_logging, detect_env, get_logger, resolve_level
from tests.unit.logs.conftest import json_lines

CONSOLE_LINE = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z \[(?P<level>\w+)\s*\] (?P<event>\S+)")


def own_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, HANDLER_MARK, False)]


def test_json_lines_carry_structlog_fields_and_stdlib_extras_alike(capsys):
    configure_logging(format="json")

    get_logger("myapp.orders").info("order_placed", order_id="o-1", total=9.5)
    logging.getLogger("archipel.engine").warning("lag %d", 7, extra={"subscription": "orders"})

    first, second = json_lines(capsys.readouterr().err)
    assert first["event"] == "order_placed" and first["order_id"] == "o-1" and first["total"] == 9.5
    assert first["logger"] == "myapp.orders" and first["level"] == "info"
    assert first["timestamp"].endswith("Z")
    assert second["event"] == "lag 7" and second["subscription"] == "orders"
    assert second["logger"] == "archipel.engine" and second["level"] == "warning"


def test_the_word_json_is_a_format_not_the_line(capsys):
    """archipel's first configure_logging took a logging format string: "json" printed "json"."""
    configure_logging(format="json")
    logging.getLogger("myapp").warning("hello")
    (line,) = json_lines(capsys.readouterr().err)
    assert line["event"] == "hello"


def test_console_lines_show_level_event_logger_and_fields(capsys):
    configure_logging(format="console", level="DEBUG")
    get_logger("myapp").debug("cart_opened", cart_id="c-9")
    out = capsys.readouterr().err
    match = CONSOLE_LINE.match(out)
    assert match and match["level"] == "debug" and match["event"] == "cart_opened"
    assert "[myapp]" in out and "cart_id=c-9" in out
    assert "\x1b[" not in out  # stderr is not a terminal: no colours


@pytest.mark.parametrize(
    ("env", "level", "is_json"),
    [
        ("production", logging.INFO, True),
        ("staging", logging.INFO, True),
        ("development", logging.DEBUG, False),
        ("test", logging.WARNING, False),
        ("", logging.INFO, False),
        ("qa", logging.INFO, False),
    ],
)
def test_the_environment_picks_level_and_format(monkeypatch, capsys, env, level, is_json):
    if env:
        monkeypatch.setenv("ARCHIPEL_ENV", env)
    configure_logging()
    assert logging.getLogger().level == level
    logging.getLogger("myapp").critical("boom")
    err = capsys.readouterr().err
    assert (json_lines(err)[0]["event"] == "boom") if is_json else CONSOLE_LINE.match(err)


def test_environment_variables_in_order(monkeypatch):
    monkeypatch.setenv("ENVIRONMENT", "staging")
    assert detect_env() == "staging"
    monkeypatch.setenv("ENV", "Development")
    assert detect_env() == "development"
    monkeypatch.setenv("PROTEAN_ENV", "test")
    assert detect_env() == "test"
    monkeypatch.setenv("ARCHIPEL_ENV", "production")
    assert detect_env() == "production"


def test_level_argument_beats_the_variable_which_beats_the_environment(monkeypatch):
    monkeypatch.setenv("ARCHIPEL_ENV", "production")
    monkeypatch.setenv("PROTEAN_LOG_LEVEL", "error")
    configure_logging()
    assert logging.getLogger().level == logging.ERROR
    monkeypatch.setenv("ARCHIPEL_LOG_LEVEL", "warning")
    configure_logging()
    assert logging.getLogger().level == logging.WARNING
    configure_logging(level="debug")
    assert logging.getLogger().level == logging.DEBUG


@given(st.text(max_size=12))
def test_an_unknown_level_is_an_error_naming_the_levels(name):
    if name.strip().upper() in ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL", "NOTSET", ""):
        return
    with pytest.raises(ValueError, match="DEBUG, INFO, WARNING, ERROR, CRITICAL"):
        resolve_level(name)


def test_a_bad_level_variable_is_named(monkeypatch):
    monkeypatch.setenv("ARCHIPEL_LOG_LEVEL", "verbose")
    with pytest.raises(ValueError, match="ARCHIPEL_LOG_LEVEL 'verbose' is not a log level"):
        configure_logging()


@pytest.mark.parametrize("bad", ["text", "JSON", "yaml", ""])
def test_an_unknown_format_is_an_error_naming_the_formats(bad):
    before = list(logging.getLogger().handlers)
    with pytest.raises(ValueError, match="'auto', 'console', 'json'"):
        configure_logging(format=bad)
    assert logging.getLogger().handlers == before  # nothing changed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_bytes": -1}, "max_bytes takes a whole number"),
        ({"backup_count": 1.5}, "backup_count takes a whole number"),
        ({"log_file_prefix": "logs/app"}, "log_file_prefix takes a file name"),
        ({"per_logger": {"myapp": "LOUD"}}, r"per_logger\['myapp'\] 'LOUD' is not a log level"),
        ({"per_logger": {"myapp": ""}}, r"per_logger\['myapp'\] '' is not a log level"),
        ({"redact": "password"}, r"redact takes a list of field names, e.g. \['password'\]"),
        ({"extra_processors": ["not callable"]}, "extra_processors takes structlog processors"),
    ],
)
def test_bad_arguments_are_errors_naming_them(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        configure_logging(**kwargs)


def test_a_logging_format_string_still_works_with_the_context(capsys):
    from archipel.utils.logging import add_context

    configure_logging("INFO", "%(levelname)s %(name)s: %(message)s%(archipel_context)s")
    add_context(request_id="r-1")
    logging.getLogger("myapp").info("plain")
    get_logger("myapp").info("structured", order_id="o-1")
    assert capsys.readouterr().err.splitlines() == [
        "INFO myapp: plain request_id=r-1",
        "INFO myapp: structured order_id=o-1 request_id=r-1",
    ]


def test_rotating_files_and_the_error_file(tmp_path):
    configure_logging(format="json", log_dir=tmp_path / "logs", log_file_prefix="shop", max_bytes=400, backup_count=2)
    log = logging.getLogger("myapp")
    for n in range(40):
        log.info("line %d", n)
    log.error("it broke", extra={"order_id": "o-7"})
    for handler in own_handlers():
        handler.flush()

    names = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert names == ["shop.log", "shop.log.1", "shop.log.2", "shop_error.log"]
    (error,) = json_lines((tmp_path / "logs" / "shop_error.log").read_text())
    assert error["event"] == "it broke" and error["order_id"] == "o-7" and error["level"] == "error"
    latest = json_lines((tmp_path / "logs" / "shop.log").read_text())
    assert latest[-1]["event"] == "it broke"
    assert all(line["logger"] == "myapp" for line in latest)


def test_files_default_to_the_archipel_prefix_and_never_hold_colours(tmp_path):
    configure_logging(format="console", log_dir=str(tmp_path))
    get_logger("myapp").warning("stock_low", sku="b-1")
    for handler in own_handlers():
        handler.flush()
    text = (tmp_path / "archipel.log").read_text()
    assert "stock_low" in text and "sku=b-1" in text and "\x1b[" not in text
    assert (tmp_path / "archipel_error.log").read_text() == ""


def test_reconfiguring_replaces_the_handlers(tmp_path):
    configure_logging(log_dir=tmp_path)
    assert len(own_handlers()) == 3
    configure_logging()
    assert len(own_handlers()) == 1 and len(logging.getLogger().handlers) == 1


def test_per_logger_levels_and_noisy_loggers(capsys):
    configure_logging(format="json", level="INFO", per_logger={"myapp.orders": "error", "archipel.engine": "WARNING"})
    assert logging.getLogger("myapp.orders").level == logging.ERROR
    assert logging.getLogger("archipel.engine").level == logging.WARNING
    assert logging.getLogger("sqlalchemy.engine").level == logging.WARNING
    assert logging.getLogger("archipel.sql").level == logging.WARNING
    get_logger("myapp.orders").warning("dropped")
    get_logger("myapp.orders").error("kept")
    assert [line["event"] for line in json_lines(capsys.readouterr().err)] == ["kept"]


def test_debug_opens_archipel_loggers_and_a_quieter_level_closes_them_again():
    configure_logging(level="DEBUG")
    assert logging.getLogger("archipel.sql").getEffectiveLevel() == logging.DEBUG
    configure_logging(level="INFO")
    assert logging.getLogger("archipel.sql").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("archipel").level == logging.NOTSET


def test_dict_config_is_applied_and_gets_the_correlation_filter(capsys):
    from archipel.utils.log_filters import CorrelationFilter, RedactionFilter

    configure_logging(
        dict_config={
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(levelname)s|%(message)s|%(correlation_id)s|%(api_key)s"}},
            "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
            "root": {"handlers": ["err"], "level": "INFO"},
        },
        redact=["api_key"],
    )
    (handler,) = logging.getLogger().handlers
    assert [type(f) for f in handler.filters] == [CorrelationFilter, RedactionFilter]
    logging.getLogger("myapp").info("charged", extra={"api_key": "k-123"})
    assert capsys.readouterr().err == "INFO|charged||[REDACTED]\n"


def test_the_servers_configure_replaces_these_handlers_and_reads_structlog_events(capsys):
    configure_logging(format="console")
    logs.configure_logging("json")
    assert len(own_handlers()) == 1 and len(logging.getLogger().handlers) == 1
    get_logger("myapp").warning("order_placed", order_id="o-1")
    (line,) = json_lines(capsys.readouterr().err)
    assert line["message"] == "order_placed" and line["order_id"] == "o-1"
