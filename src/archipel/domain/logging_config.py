"""The ``[logging]`` table of ``domain.toml``: its checks, and the arguments it gives
:func:`archipel.utils.logging.configure_logging` (``Domain.configure_logging``).

Protean 0.18's table, the same keys and defaults::

    [logging]
    level = ""              # "" = the environment's (DEBUG, INFO, WARNING, ERROR, CRITICAL)
    format = "auto"         # auto | console | json
    log_dir = ""            # "" = stderr only; a folder adds rotating <prefix>.log, <prefix>_error.log
    log_file_prefix = "archipel"
    max_bytes = 10485760
    backup_count = 5
    redact = ["password", "token", "secret", "api_key", "authorization", "cookie", "session", "csrf"]

    [logging.per_logger]
    "archipel.engine" = "WARNING"

``slow_handler_threshold_ms``, ``slow_query_threshold_ms``,
``slow_query_truncate_chars``, ``[logging.sampling]`` and ``[logging.http]``
(Protean's wide access events) are accepted; archipel emits no such events, so
a value other than Protean's default is logged as a warning saying it has no
effect. Any other key is an error naming the known ones.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from archipel.utils.logging import FORMATS, LEVELS
from archipel.utils.redaction import DEFAULT_REDACT_KEYS

__all__ = ["ACTED_ON", "NO_EFFECT", "check_logging", "logging_options", "logging_problems"]

#: the keys archipel applies, with Protean's defaults (``log_file_prefix``: archipel's name)
ACTED_ON: dict[str, Any] = {
    "level": "",
    "format": "auto",
    "log_dir": "",
    "log_file_prefix": "archipel",
    "max_bytes": 10 * 1024 * 1024,
    "backup_count": 5,
    "redact": list(DEFAULT_REDACT_KEYS),
    "per_logger": {},
}
#: Protean's keys for its wide access events, which archipel does not emit: their defaults
NO_EFFECT: dict[str, Any] = {
    "slow_handler_threshold_ms": 500,
    "slow_query_threshold_ms": 100,
    "slow_query_truncate_chars": 500,
    "sampling": {
        "enabled": False,
        "default_rate": 0.05,
        "always_keep_errors": True,
        "always_keep_slow": True,
        "critical_streams": [],
    },
    "http": {"enabled": True, "log_request_headers": False, "log_response_headers": False, "exclude_paths": []},
}
_LEVEL_NAMES = frozenset((*LEVELS, "WARN", "FATAL", "NOTSET"))
_LEVEL_VARIABLES = ("ARCHIPEL_LOG_LEVEL", "PROTEAN_LOG_LEVEL")


def logging_problems(table: Any) -> list[str]:
    """What is wrong with ``[logging]`` (``None``: absent), one line per problem."""
    if table is None:
        return []
    if not isinstance(table, Mapping):
        return [f"Invalid [logging] {table!r}: expected a table, e.g. [logging] level = \"INFO\""]
    known = {**ACTED_ON, **NO_EFFECT}
    problems = _unknown("logging", table, known)
    level, fmt = table.get("level", ""), table.get("format", "auto")
    if not _is_level(level, empty_ok=True):
        problems.append(f"Invalid logging.level {level!r}; expected one of {', '.join(LEVELS)} (or \"\")")
    if fmt not in (*FORMATS, ""):
        problems.append(f"Invalid logging.format {fmt!r}; expected one of {', '.join(map(repr, FORMATS))}")
    if not isinstance(table.get("log_dir", ""), str):
        problems.append(f"Invalid logging.log_dir {table['log_dir']!r}; expected a folder path (\"\" for none)")
    prefix = table.get("log_file_prefix", "archipel")
    if not isinstance(prefix, str) or not prefix or "/" in prefix or os.sep in prefix:
        problems.append(f"Invalid logging.log_file_prefix {prefix!r}; expected a file name, e.g. \"myapp\"")
    for key in ("max_bytes", "backup_count"):
        value = table.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(f"Invalid logging.{key} {value!r}; expected a whole number >= 0")
    redact = table.get("redact", [])
    if not isinstance(redact, list) or not all(isinstance(name, str) for name in redact):
        problems.append(f"Invalid logging.redact {redact!r}; expected a list of field names, e.g. [\"card_number\"]")
    per_logger = table.get("per_logger", {})
    if not isinstance(per_logger, Mapping):
        problems.append(f"Invalid logging.per_logger {per_logger!r}; expected a table of logger = level")
    else:
        problems += [
            f"Invalid logging.per_logger.{name!r} level {value!r}; expected one of {', '.join(LEVELS)}"
            for name, value in per_logger.items()
            if not _is_level(value)
        ]
    for key in ("slow_handler_threshold_ms", "slow_query_threshold_ms", "slow_query_truncate_chars"):
        value = table.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems.append(f"Invalid logging.{key} {value!r}; expected a number >= 0")
    for key in ("sampling", "http"):
        inner = table.get(key, {})
        if not isinstance(inner, Mapping):
            problems.append(f"Invalid logging.{key} {inner!r}; expected a table, e.g. [logging.{key}]")
        else:
            problems += _unknown(f"logging.{key}", inner, NO_EFFECT[key])
    return problems


def check_logging(table: Any, log: logging.Logger) -> list[str]:
    """:func:`logging_problems`, and a warning on ``log`` for each key set to a value other
    than Protean's default that archipel does not act on."""
    problems = logging_problems(table)
    if problems or not table:
        return problems
    for key, default in NO_EFFECT.items():
        value = table.get(key, default)
        changed = (
            [f"{key}.{k}" for k, v in value.items() if v != default.get(k)]
            if isinstance(default, dict)
            else ([key] if value != default else [])
        )
        for name in changed:
            log.warning(
                "configuration: logging.%s is a Protean setting of its access events, which archipel "
                "does not emit; it has no effect (see docs/porting.md)",
                name,
            )
    return problems


def logging_options(table: Mapping[str, Any] | None, explicit: Mapping[str, Any]) -> dict[str, Any]:
    """``configure_logging`` arguments: ``[logging]`` (a checked table, or None), then
    ``explicit`` winning; the table's ``level`` only when no ``ARCHIPEL_LOG_LEVEL`` /
    ``PROTEAN_LOG_LEVEL`` is set (Protean's precedence). An absent ``redact`` is
    Protean's default list."""
    table = table or {}
    options: dict[str, Any] = {}
    if table.get("level") and not any(os.environ.get(name) for name in _LEVEL_VARIABLES):
        options["level"] = table["level"]
    for key in ("format", "log_dir", "log_file_prefix"):
        if table.get(key):
            options[key] = table[key]
    for key in ("max_bytes", "backup_count"):
        if table.get(key) is not None:
            options[key] = int(table[key])
    if table.get("per_logger"):
        options["per_logger"] = dict(table["per_logger"])
    redact = table.get("redact", ACTED_ON["redact"])
    if redact:
        options["redact"] = list(redact)
    options.update(explicit)
    return options


def _unknown(where: str, table: Mapping[str, Any], known: Mapping[str, Any]) -> list[str]:
    unknown = sorted(str(key) for key in table if key not in known)
    if not unknown:
        return []
    return [f"Unknown key(s) {', '.join(map(repr, unknown))} in [{where}]; known: {', '.join(sorted(known))}"]


def _is_level(value: Any, *, empty_ok: bool = False) -> bool:
    if isinstance(value, str):
        return (empty_ok and value == "") or value.strip().upper() in _LEVEL_NAMES
    return False
