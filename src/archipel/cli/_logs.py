"""``--log-format`` and ``--log-level``, shared by the long-running commands (server, observatory)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from archipel.utils.logs import configure_logging

__all__ = ["LogFormat", "LogFormatOption", "LogLevel", "LogLevelOption", "setup_logging"]


class LogFormat(StrEnum):
    """How log lines look: ``text`` for people, ``json`` (one object per line) for collectors."""

    text = "text"
    json = "json"


class LogLevel(StrEnum):
    """The least severe level written."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="Log lines as text or JSON (time, level, logger, message and correlation ids).",
        case_sensitive=False,
    ),
]
LogLevelOption = Annotated[
    LogLevel, typer.Option("--log-level", help="Least severe level logged.", case_sensitive=False)
]


def setup_logging(fmt: LogFormat, level: LogLevel) -> None:
    """Install the archipel log handler on the root logger (stderr)."""
    configure_logging("json" if fmt is LogFormat.json else "text", level.value.upper())
