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

Protean's keys of its wide access events (:mod:`archipel.utils.access_log`,
:mod:`archipel.utils.sampling`, the FastAPI middleware, slow statements)::

    slow_handler_threshold_ms = 500  # a handler slower: status "slow", WARNING (0: never slow)
    slow_query_threshold_ms = 100    # a statement slower: WARNING on ...sqlalchemy.slow_query
                                     # (archipel times statements only when this key or the next is set)
    slow_query_truncate_chars = 500  # the statement's text in that event (0: whole)

    [logging.sampling]               # tail sampling of archipel.access (off by default)
    enabled = false
    default_rate = 0.05
    always_keep_errors = true
    always_keep_slow = true
    critical_streams = []            # fnmatch globs of message types, e.g. ["Shop.Payment*"]

    [logging.http]                   # archipel.integrations.fastapi's HTTP wide event
    enabled = true
    log_request_headers = false
    log_response_headers = false
    exclude_paths = []               # e.g. ["/health", "/metrics"]

Any other key, or a value of the wrong kind, is an error naming what is allowed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from archipel.utils.logging import FORMATS, LEVELS
from archipel.utils.redaction import DEFAULT_REDACT_KEYS

__all__ = ["ACTED_ON", "HTTP_DEFAULTS", "SAMPLING_DEFAULTS", "SLOW_QUERY_KEYS", "check_logging", "logging_options",
           "logging_problems", "sampling_options"]

#: naming one of these in ``[logging]`` times the SQL statements of the domain's engines (slow-query log)
SLOW_QUERY_KEYS = frozenset({"slow_query_threshold_ms", "slow_query_truncate_chars"})
#: ``[logging.sampling]``: Protean's defaults
SAMPLING_DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "default_rate": 0.05,
    "always_keep_errors": True,
    "always_keep_slow": True,
    "critical_streams": [],
}
#: ``[logging.http]``: Protean's defaults
HTTP_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "log_request_headers": False,
    "log_response_headers": False,
    "exclude_paths": [],
}
#: every key of ``[logging]``, with Protean's defaults (``log_file_prefix``: archipel's name)
ACTED_ON: dict[str, Any] = {
    "level": "",
    "format": "auto",
    "log_dir": "",
    "log_file_prefix": "archipel",
    "max_bytes": 10 * 1024 * 1024,
    "backup_count": 5,
    "redact": list(DEFAULT_REDACT_KEYS),
    "per_logger": {},
    "slow_handler_threshold_ms": 500,
    "slow_query_threshold_ms": 100,
    "slow_query_truncate_chars": 500,
    "sampling": SAMPLING_DEFAULTS,
    "http": HTTP_DEFAULTS,
}
_LEVEL_NAMES = frozenset((*LEVELS, "WARN", "FATAL", "NOTSET"))
_LEVEL_VARIABLES = ("ARCHIPEL_LOG_LEVEL", "PROTEAN_LOG_LEVEL")


def logging_problems(table: Any) -> list[str]:
    """What is wrong with ``[logging]`` (``None``: absent), one line per problem."""
    if table is None:
        return []
    if not isinstance(table, Mapping):
        return [f"Invalid [logging] {table!r}: expected a table, e.g. [logging] level = \"INFO\""]
    problems = _unknown("logging", table, ACTED_ON)
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
    for key, defaults in (("sampling", SAMPLING_DEFAULTS), ("http", HTTP_DEFAULTS)):
        inner = table.get(key, {})
        if not isinstance(inner, Mapping):
            problems.append(f"Invalid logging.{key} {inner!r}; expected a table, e.g. [logging.{key}]")
            continue
        problems += _unknown(f"logging.{key}", inner, defaults)
        for name, default in defaults.items():
            value = inner.get(name, default)
            if isinstance(default, bool) and not isinstance(value, bool):
                problems.append(f"Invalid logging.{key}.{name} {value!r}; expected true or false")
            elif isinstance(default, list) and (
                not isinstance(value, list) or not all(isinstance(item, str) for item in value)
            ):
                problems.append(f"Invalid logging.{key}.{name} {value!r}; expected a list of strings")
    rate = table.get("sampling", {}).get("default_rate", 0.05) if isinstance(table.get("sampling", {}), Mapping) else 0
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        problems.append(f"Invalid logging.sampling.default_rate {rate!r}; expected a number from 0 to 1")
    return problems


def check_logging(table: Any, log: logging.Logger) -> list[str]:
    """:func:`logging_problems` (``log``: kept for callers; every key is acted on)."""
    return logging_problems(table)


def sampling_options(table: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The arguments of :class:`~archipel.utils.sampling.TailSamplingFilter` when
    ``[logging.sampling] enabled = true``, else None (no sampling)."""
    sampling = (table or {}).get("sampling") or {}
    if not isinstance(sampling, Mapping) or not sampling.get("enabled", False):
        return None
    return {
        name: sampling.get(name, default) for name, default in SAMPLING_DEFAULTS.items() if name != "enabled"
    }


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
