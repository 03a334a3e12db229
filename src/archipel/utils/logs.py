"""Structured log lines for the server and the observatory (stdlib :mod:`logging` only).

``configure_logging("text" | "json", level)`` installs one handler on the
root logger that writes one line per record to stderr:

- ``text``: ``2026-12-06T02:40:00.123Z WARNING archipel.engine.consumer [message=… correlation=…] text``
- ``json``: ``{"time": "…Z", "level": "WARNING", "logger": "…", "message": "…",
  "message_id": "…", "correlation_id": "…", …}``, one object per line.

Message and correlation ids come from the record's ``extra`` (``message_id``,
``correlation_id``, or ``archipel_message_id`` … as the engine's failure lines
name them; see :func:`message_fields`), else, for ``correlation_id`` and
``causation_id``, from the message being handled
(:class:`~archipel.utils.log_filters.CorrelationFilter`); other ``extra`` keys listed in
:data:`EXTRA_KEYS` (``subscription``, ``decision``, ``attempt``, …) are
carried too, and so is what :func:`archipel.utils.logging.add_context` attached
to the current task (``request_id``, ``tenant``...). A traceback, when a record has one, is one JSON field
(``exc``), never several lines of a JSON stream. Time is ISO 8601 in UTC.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any, Literal, TextIO

import msgspec

from archipel.utils.log_filters import CorrelationFilter
from archipel.utils.log_setup import HANDLER_MARK, EventDict, StderrHandler
from archipel.utils.logging import current_context

__all__ = [
    "EXTRA_KEYS",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "configure_logging",
    "message_fields",
]

LogFormat = Literal["text", "json"]

#: the ``extra`` keys a formatter writes (in this order), when a record has them
EXTRA_KEYS = (
    "message_id",
    "correlation_id",
    "causation_id",
    "subscription",
    "message_type",
    "decision",
    "attempt",
    "max_attempts",
    "error",
)
#: the fields of a wide access event the servers' lines show
_ACCESS_KEYS = (
    "kind", "handler", "status", "duration_ms", "error_type", "error_message",
    "http_method", "http_path", "http_status", "http_duration_ms",
)
#: what a structlog event holds that a line already shows
_STRUCTLOG_LINE_KEYS = frozenset(
    {"event", "logger", "level", "timestamp", "exc_info", "filename", "lineno", "func_name"}
)
#: the engine's failure lines (:mod:`archipel.engine.failures`) name them with a prefix
_PREFIX = "archipel_"

_encoder = msgspec.json.Encoder()


def _iso(created: float) -> str:
    moment = dt.datetime.fromtimestamp(created, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _message(record: logging.LogRecord) -> str:
    # a structlog event (archipel.utils.logging.get_logger): its event; fields in _extras
    return str(record.msg.get("event", "")) if isinstance(record.msg, EventDict) else record.getMessage()


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    found = current_context()  # archipel.utils.logging.add_context(request_id=...)
    if isinstance(record.msg, EventDict):
        found.update((k, v) for k, v in record.msg.items() if k not in _STRUCTLOG_LINE_KEYS)
    values = record.__dict__
    for key in EXTRA_KEYS:
        value = values.get(key)
        if value is None or value == "":  # "": the correlation filter found no message
            value = values.get(_PREFIX + key)
        if value is not None and value != "":
            found[key] = value
    if _is_access(record):  # the wide event's own fields (a failure: its error, no traceback)
        for key in _ACCESS_KEYS:
            value = values.get(key)
            if value is not None and value != "":
                found[key] = value
    return found


def _is_access(record: logging.LogRecord) -> bool:
    """A wide access event (``archipel.access``): the servers' lines keep a failure to one
    line (its ``error_type`` and ``error_message`` are the event's), never a traceback."""
    return record.name == "archipel.access" or record.name.startswith("archipel.access.")


def message_fields(payload: Mapping[str, Any] | None, message_id: str | None = None) -> dict[str, Any]:
    """``extra`` for a log call about one message: its id and correlation id.

    ``payload`` is a broker payload (``{"metadata": {...}, "data": ...}``);
    anything else gives only ``message_id``.
    """
    fields: dict[str, Any] = {"message_id": message_id}
    meta = payload.get("metadata") if isinstance(payload, Mapping) else None
    if isinstance(meta, Mapping):
        fields["message_id"] = message_id or meta.get("id")
        fields["correlation_id"] = meta.get("correlation_id")
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, ids, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
            **_extras(record),
        }
        if record.exc_info and not _is_access(record):
            line["exc"] = self.formatException(record.exc_info)
        return _encoder.encode(line).decode()


class TextFormatter(logging.Formatter):
    """``<ISO time> <LEVEL> <logger> [key=value …] <message>``, traceback below if any."""

    def format(self, record: logging.LogRecord) -> str:
        extras = _extras(record)
        tags = " ".join(f"{key}={value}" for key, value in extras.items())
        text = f"{_iso(record.created)} {record.levelname} {record.name} "
        text += f"[{tags}] " if tags else ""
        text += _message(record)
        if record.exc_info and not _is_access(record):
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(
    fmt: LogFormat = "text", level: int | str = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) as ``fmt`` lines; return the handler.

    Replaces a handler installed by an earlier call, or by
    :func:`archipel.utils.logging.configure_logging` (never other handlers);
    raises ValueError for an unknown format.
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown log format {fmt!r}: use 'text' or 'json'")
    handler: logging.Handler = logging.StreamHandler(stream) if stream else StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(CorrelationFilter())  # the ids of the message a handler is handling
    setattr(handler, HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, HANDLER_MARK, False)]:
        root.removeHandler(old)
        if old is not handler and isinstance(old, logging.FileHandler):
            old.close()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
