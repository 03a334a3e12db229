"""Protean's global logging options: ``archipel --log-level L --log-format F --log-config PATH CMD``."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archipel.cli import _logs
from archipel.cli._console import UsageError
from archipel.cli._logs import LogFormat, LogLevel, apply_global_logging, setup_logging
from archipel.utils.logs import JsonFormatter, TextFormatter
from tests.cli.conftest import cli_env, run_cli


def _archipel_handler() -> logging.Handler:
    found = [h for h in logging.getLogger().handlers if getattr(h, "_archipel_handler", False)]
    assert len(found) == 1
    return found[0]


@pytest.fixture(autouse=True)
def _fresh_choice(monkeypatch: pytest.MonkeyPatch):
    for name in ("ARCHIPEL_LOG_LEVEL", "PROTEAN_LOG_LEVEL", "ARCHIPEL_ENV", "PROTEAN_ENV", "ENV", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_logs, "_chosen", _logs._Global())
    # dictConfig disables the loggers that exist unless told otherwise: put them back
    loggers = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    disabled = {lg: lg.disabled for lg in loggers}
    yield
    for lg in [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]:
        lg.disabled = disabled.get(lg, False)


@settings(max_examples=20, deadline=None)
@given(word=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=9))
def test_an_unknown_level_or_format_is_a_usage_error_naming_the_allowed_values(word):
    from archipel.cli.main import run

    if word.lower() not in LogLevel.__members__:
        assert run(["--log-level", word, "version"]) == 2
    if word.lower() not in LogFormat.__members__:
        assert run(["--log-format", word, "version"]) == 2


def test_usage_errors_name_the_choices():
    result = run_cli("--log-level", "loud", "version")
    assert result.returncode == 2
    for level in ("debug", "info", "warning", "error", "critical"):
        assert level in result.stderr
    result = run_cli("--log-format", "xml", "version")
    assert result.returncode == 2 and all(f in result.stderr for f in ("auto", "console", "json"))


@pytest.mark.parametrize("level", ["DEBUG", "info", "Warning", "ERROR", "critical"])
def test_a_level_in_any_case_sets_the_root_logger(cli, level):
    assert cli("--log-level", level, "version").code == 0
    assert logging.getLogger().level == getattr(logging, level.upper())
    assert isinstance(_archipel_handler().formatter, TextFormatter)


@pytest.mark.parametrize(
    ("fmt", "env", "json_lines"),
    [("json", None, True), ("console", None, False), ("text", None, False),
     ("auto", None, False), ("auto", "production", True), ("auto", "staging", True), ("auto", "development", False)],
)
def test_formats(cli, monkeypatch, fmt, env, json_lines):
    if env:
        monkeypatch.setenv("PROTEAN_ENV", env)
    assert cli("--log-format", fmt, "version").code == 0
    assert isinstance(_archipel_handler().formatter, JsonFormatter if json_lines else TextFormatter)


@pytest.mark.parametrize(("env", "variable", "level"), [
    (None, None, logging.INFO), ("development", None, logging.DEBUG), ("test", None, logging.WARNING),
    (None, "ERROR", logging.ERROR), ("development", "warning", logging.WARNING),
])
def test_without_a_level_the_environment_decides(cli, monkeypatch, env, variable, level):
    if env:
        monkeypatch.setenv("ENVIRONMENT", env)
    if variable:
        monkeypatch.setenv("PROTEAN_LOG_LEVEL", variable)
    assert cli("--log-format", "console", "version").code == 0
    assert logging.getLogger().level == level


def test_a_bad_level_variable_is_named(cli, monkeypatch):
    monkeypatch.setenv("PROTEAN_LOG_LEVEL", "chatty")
    outcome = cli("--log-format", "json", "version")
    assert outcome.code == 2 and "PROTEAN_LOG_LEVEL='chatty'" in outcome.err


def test_a_dict_config_file_is_applied(cli, tmp_path):
    log_file = tmp_path / "app.log"
    config = {
        "version": 1,
        "formatters": {"plain": {"format": "%(levelname)s|%(name)s|%(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(log_file), "formatter": "plain"}},
        "root": {"level": "WARNING", "handlers": ["file"]},
    }
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(config))
    # dictConfig disables every logger that exists already (disable_existing_loggers): write
    # through a logger born after it, and give the loggers of earlier tests back afterwards.
    enabled = [lg for lg in logging.Logger.manager.loggerDict.values()
               if isinstance(lg, logging.Logger) and not lg.disabled]
    try:
        assert cli("--log-config", str(path), "version").code == 0
        assert logging.getLogger().level == logging.WARNING
        logger = logging.getLogger(f"archipel.test.dictconfig{uuid.uuid4().hex}")
        logger.warning("written")
        logger.info("not written")
        for handler in logging.getLogger().handlers:
            handler.flush()
        assert log_file.read_text() == f"WARNING|{logger.name}|written\n"
        setup_logging(None, None)  # server/observatory leave the file's logging alone
        assert not any(getattr(h, "_archipel_handler", False) for h in logging.getLogger().handlers)
        with pytest.raises(UsageError, match="exclusive"):
            setup_logging(LogFormat.json, None)
    finally:
        for lg in enabled:
            lg.disabled = False
        for handler in list(logging.getLogger().handlers):
            if isinstance(handler, logging.FileHandler):
                logging.getLogger().removeHandler(handler)
                handler.close()


@pytest.mark.parametrize(("content", "reason"), [
    ("{not json", "is not JSON"),
    ("[1, 2]", "not an object"),
    ('{"version": 2}', "not a valid logging dictConfig"),
    ('{"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}', "not a valid logging dictConfig"),
])
def test_a_bad_dict_config_file_is_a_clear_usage_error(tmp_path, content, reason):
    path = tmp_path / "logging.json"
    path.write_text(content)
    result = run_cli("--log-config", str(path), "version")
    assert result.returncode == 2
    assert reason in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_dict_config_file_is_a_usage_error(tmp_path):
    result = run_cli("--log-config", str(tmp_path / "absent.json"), "version")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_server_options_win_over_the_global_ones():
    apply_global_logging(LogLevel.warning, LogFormat.json, None)
    setup_logging(None, None)
    assert logging.getLogger().level == logging.WARNING
    assert isinstance(_archipel_handler().formatter, JsonFormatter)
    setup_logging(LogFormat.console, LogLevel.debug)
    assert logging.getLogger().level == logging.DEBUG
    assert isinstance(_archipel_handler().formatter, TextFormatter)


def test_global_options_reach_the_server_in_its_process(tmp_path: Path):
    env = cli_env(DURABLE_SHELF_DB=str(tmp_path / "shelf.db"))
    setup = run_cli("db", "setup", "--domain", "durable_shelf", env=env)
    assert setup.returncode == 0, setup.stderr
    result = run_cli("--log-format", "json", "server", "--domain", "durable_shelf", "--test-mode", env=env)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(line["level"] == "INFO" for line in lines)
    quiet = run_cli("--log-format", "json", "--log-level", "ERROR", "server", "--domain", "durable_shelf",
                    "--test-mode", env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if line.startswith("{")]


def test_version_option_is_protean_compatible():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("archipel ")


@pytest.mark.parametrize(("env", "variable", "level"), [
    ("test", None, logging.INFO), ("development", None, logging.INFO), (None, "ERROR", logging.ERROR),
])
def test_a_server_without_any_option_logs_at_the_level_variable_else_info(monkeypatch, env, variable, level):
    if env:
        monkeypatch.setenv("ARCHIPEL_ENV", env)
    if variable:
        monkeypatch.setenv("PROTEAN_LOG_LEVEL", variable)
    apply_global_logging(None, None, None)
    setup_logging(None, None)
    assert logging.getLogger().level == level
    assert isinstance(_archipel_handler().formatter, TextFormatter)
