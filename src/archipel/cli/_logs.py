"""Logging options: Protean's global ``--log-level``, ``--log-format``, ``--log-config``
(before the command: ``archipel --log-level DEBUG server``) and the ``--log-format`` /
``--log-level`` of the long-running commands (``archipel server --log-format json``).

Protean's semantics, on the standard library:

- ``--log-config PATH`` (a JSON :func:`logging.config.dictConfig` file) wins over the
  other two; ``server`` and ``observatory`` then leave logging as the file set it. A file
  that is not JSON, not an object, or that ``dictConfig`` rejects is a usage error (exit 2)
  naming the file and the reason.
- ``--log-level`` / ``--log-format`` install archipel's log handler on the root logger for
  every command. Without ``--log-level``, ``ARCHIPEL_LOG_LEVEL`` or ``PROTEAN_LOG_LEVEL``, else
  the environment's level (``development``: DEBUG, ``test``: WARNING, else INFO). ``auto``
  writes JSON in ``production`` or ``staging`` (``ARCHIPEL_ENV``, ``PROTEAN_ENV``, ``ENV`` or
  ``ENVIRONMENT``), console text otherwise; ``console`` (or archipel's ``text``) is text.
- A level or format given to ``server``/``observatory`` themselves wins over the global one.

Unknown levels and formats are usage errors listing the allowed values (Click's choice check).
"""

from __future__ import annotations

import json
import logging.config
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from archipel.cli._console import UsageError
from archipel.utils.logs import configure_logging

__all__ = [
    "LogConfigOption",
    "LogFormat",
    "LogFormatOption",
    "LogLevel",
    "LogLevelOption",
    "apply_global_logging",
    "setup_logging",
]


class LogFormat(StrEnum):
    """How log lines look: ``console`` (or ``text``) for people, ``json`` for collectors,
    ``auto``: JSON in production and staging, console text elsewhere."""

    auto = "auto"
    console = "console"
    text = "text"
    json = "json"


class LogLevel(StrEnum):
    """The least severe level written."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"


LogFormatOption = Annotated[
    LogFormat | None,
    typer.Option(
        "--log-format",
        help="Log lines as console text or JSON (time, level, logger, message and correlation "
        "ids); auto: JSON in production/staging. Default: the global --log-format, else text.",
        case_sensitive=False,
        show_default=False,
    ),
]
LogLevelOption = Annotated[
    LogLevel | None,
    typer.Option(
        "--log-level",
        help="Least severe level logged. Default: the global --log-level, else info.",
        case_sensitive=False,
        show_default=False,
    ),
]
LogConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--log-config",
        help="A JSON logging.config.dictConfig file (wins over --log-level/--log-format).",
        exists=True,
        dir_okay=False,
        readable=True,
        show_default=False,
    ),
]

_LEVEL_VARS = ("ARCHIPEL_LOG_LEVEL", "PROTEAN_LOG_LEVEL")
_ENV_VARS = ("ARCHIPEL_ENV", "PROTEAN_ENV", "ENV", "ENVIRONMENT")
_ENV_LEVELS = {"development": "DEBUG", "test": "WARNING"}
_JSON_ENVS = ("production", "staging")


@dataclass
class _Global:
    """What the global options set for this run (the root callback resets it each run)."""

    level: str | None = None
    fmt: str | None = None
    from_file: Path | None = None


_chosen = _Global()


def _environment() -> str:
    for name in _ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            return value.lower()
    return ""


def _default_level(by_environment: bool = True) -> str:
    for name in _LEVEL_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            if value.lower() not in LogLevel.__members__:
                raise UsageError(
                    f"{name}={value!r} is not a log level",
                    hint=f"use one of {', '.join(m.upper() for m in LogLevel.__members__)}",
                )
            return value.upper()
    return _ENV_LEVELS.get(_environment(), "INFO") if by_environment else "INFO"


def _resolved_format(fmt: LogFormat) -> str:
    if fmt is LogFormat.auto:
        return "json" if _environment() in _JSON_ENVS else "text"
    return "json" if fmt is LogFormat.json else "text"


def _load_dict_config(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read log config {str(path)!r}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"log config {str(path)!r} is not JSON: {exc}",
            hint="give a JSON object in logging.config.dictConfig's schema",
        ) from None
    if not isinstance(payload, dict):
        raise UsageError(
            f"log config {str(path)!r} holds a JSON {type(payload).__name__}, not an object",
            hint='give a dictConfig object, e.g. {"version": 1, "root": {"level": "INFO"}}',
        )
    return payload


def apply_global_logging(level: LogLevel | None, fmt: LogFormat | None, config: Path | None) -> None:
    """Apply the root command's logging options (see the module) and remember them."""
    global _chosen
    _chosen = _Global()
    if config is not None:
        payload = _load_dict_config(config)
        try:
            logging.config.dictConfig(payload)
        except (ValueError, TypeError, AttributeError, ImportError) as exc:
            cause = f": {exc.__cause__}" if exc.__cause__ else ""
            raise UsageError(
                f"log config {str(config)!r} is not a valid logging dictConfig: {exc}{cause}",
                hint="see https://docs.python.org/3/library/logging.config.html#logging-config-dictschema",
            ) from None
        _chosen.from_file = config
        return
    if level is None and fmt is None:
        return
    _chosen.level = level.value.upper() if level is not None else _default_level()
    _chosen.fmt = _resolved_format(fmt) if fmt is not None else "text"
    configure_logging("json" if _chosen.fmt == "json" else "text", _chosen.level)


def setup_logging(fmt: LogFormat | None, level: LogLevel | None) -> None:
    """Install archipel's log handler for a long-running command (``server``, ``observatory``).

    Its own options win over the global ones, which win over text at
    ``ARCHIPEL_LOG_LEVEL``/``PROTEAN_LOG_LEVEL``, else INFO (Protean's server bootstrap); with the
    global ``--log-config`` and no option of its own, logging stays as the file set it.
    """
    if _chosen.from_file is not None:
        if fmt is None and level is None:
            return
        raise UsageError(
            "--log-config and this command's --log-format/--log-level are exclusive",
            hint="set the level and format in the dictConfig file, or drop --log-config",
        )
    chosen_fmt = _resolved_format(fmt) if fmt is not None else (_chosen.fmt or "text")
    chosen_level = level.value.upper() if level is not None else (_chosen.level or _default_level(False))
    configure_logging("json" if chosen_fmt == "json" else "text", chosen_level)
