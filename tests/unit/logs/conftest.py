"""Every test here may reconfigure logging for the whole process: the fixture puts the
root logger, the loggers configure_logging tunes, structlog and the task's context back."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from archipel.utils.logging import FRAMEWORK_LOGGERS, NOISY_LOGGERS

ENV_VARIABLES = (
    "ARCHIPEL_ENV", "PROTEAN_ENV", "ENV", "ENVIRONMENT", "ARCHIPEL_LOG_LEVEL", "PROTEAN_LOG_LEVEL",
    "ARCHIPEL_NO_AUTO_LOGGING", "PROTEAN_NO_AUTO_LOGGING", "NO_COLOR",
)
TUNED = ("archipel", "myapp", "myapp.orders", *NOISY_LOGGERS, *FRAMEWORK_LOGGERS)


@pytest.fixture(autouse=True)
def pristine_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ENV_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, filters, level = list(root.handlers), list(root.filters), root.level
    levels = {name: logging.getLogger(name).level for name in TUNED}
    disabled = {name: lg.disabled for name, lg in logging.Logger.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    configured, config = structlog.is_configured(), structlog.get_config()
    structlog.contextvars.clear_contextvars()
    yield
    # pytest adds capture handlers per phase (setup, call, teardown): keep the teardown
    # phase's, drop the setup phase's (pytest already let go of them) and the test's own
    session = [h for h in handlers if type(h).__name__ != "LogCaptureHandler"]
    phase = [h for h in root.handlers if type(h).__name__ == "LogCaptureHandler"]
    for handler in root.handlers:
        if handler not in session and handler not in phase:
            handler.close()
    root.handlers[:] = session + phase
    root.filters[:] = filters
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            logger.disabled = disabled.get(name, False)
    structlog.reset_defaults()
    if configured:
        structlog.configure(**config)
    structlog.contextvars.clear_contextvars()


def bare_root() -> None:
    """The root logger as a program starts: no handlers (pytest's come back after the test).
    Call it in the test's body: pytest adds its capture handlers after fixtures ran."""
    logging.getLogger().handlers.clear()


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects of ``text``, one per non-empty line (a line that is not JSON fails)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
