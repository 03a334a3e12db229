"""The pieces :func:`archipel.utils.logging.configure_logging` puts together.

One pipeline for both kinds of call: ``get_logger(__name__).info("placed",
order_id=...)`` (structlog) and ``logging.getLogger(__name__).info(...)``
(stdlib, archipel's own). structlog's chain (:func:`structlog_chain`) ends by
handing its event to the standard library as the record's message
(:class:`EventDict`); every handler archipel installs renders records of both
kinds with one ``structlog.stdlib.ProcessorFormatter`` (:func:`build_formatter`),
whose ``foreign_pre_chain`` (:func:`foreign_chain`) gives stdlib records the
same fields (logger, level, timestamp, ``extra``, the context of
:func:`~archipel.utils.logging.add_context`). A handler archipel did not install
(pytest's ``caplog``, a ``dictConfig`` one) sees a structlog event as the text
``event key=value ...`` (:meth:`EventDict.__str__`).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import structlog

from archipel.utils.log_filters import LOG_RECORD_RESERVED_ATTRS

__all__ = [
    "HANDLER_MARK",
    "EventDict",
    "StderrHandler",
    "build_formatter",
    "file_handlers",
    "foreign_chain",
    "mark",
    "structlog_chain",
]

#: the attribute set on every handler archipel installs (so a new configuration replaces them)
HANDLER_MARK = "_archipel_handler"

#: event keys every line has, left out of :meth:`EventDict.__str__`
_LINE_KEYS = frozenset(
    {"event", "logger", "level", "timestamp", "filename", "lineno", "func_name", "exc_info", "stack_info"}
)
#: record attributes ``wrap_for_formatter`` adds, never fields
_NOT_EXTRA = LOG_RECORD_RESERVED_ATTRS | {"_logger", "_name"}


def mark(handler: logging.Handler) -> logging.Handler:
    """Flag ``handler`` as archipel's; return it."""
    setattr(handler, HANDLER_MARK, True)
    return handler


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at each record (test runners swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class EventDict(dict[str, Any]):
    """A structlog event travelling as a record's ``msg``; ``str()`` is ``event key=value ...``.

    ``ProcessorFormatter`` reads it as a dict; any other formatter calls
    ``record.getMessage()``, which gives the text.
    """

    def __str__(self) -> str:
        fields = " ".join(
            f"{key}={value if isinstance(value, str) else repr(value)}"
            for key, value in self.items()
            if key not in _LINE_KEYS
        )
        event = str(self.get("event", ""))
        return f"{event} {fields}" if fields else event


def _capture_exc_info(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """``exc_info=True`` (``.exception()``) becomes the exception being handled now:
    the record may be rendered later, or by a handler in another thread."""
    exc_info = event_dict.get("exc_info")
    if exc_info is True or (exc_info and not isinstance(exc_info, tuple | BaseException)):
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if exc_info and exc_info != (None, None, None):
        event_dict["exc_info"] = exc_info
    else:
        event_dict.pop("exc_info", None)
    return event_dict


def _to_stdlib(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The last processor: the event becomes the record's message (``wrap_for_formatter``),
    and an exception the record's ``exc_info`` (for handlers that are not archipel's)."""
    extra: dict[str, Any] = {"extra": {"_logger": logger, "_name": method}}
    if "exc_info" in event_dict:
        extra["exc_info"] = event_dict["exc_info"]
    return (EventDict(event_dict),), extra


def _record_extras(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A stdlib record's ``extra`` fields (and what filters set on it) into the event."""
    record = event_dict.get("_record")
    if record is not None:
        for key, value in record.__dict__.items():
            if key not in _NOT_EXTRA:
                event_dict.setdefault(key, value)
    return event_dict


def structlog_chain(extra: Sequence[Any]) -> list[Any]:
    """The processors of a ``get_logger()`` event, ``extra`` (correlation, redaction) last."""
    return [
        structlog.stdlib.filter_by_level,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso"),
        structlog.processors.StackInfoRenderer(),
        _capture_exc_info,
        structlog.processors.CallsiteParameterAdder(
            parameters=[
                structlog.processors.CallsiteParameter.FILENAME,
                structlog.processors.CallsiteParameter.LINENO,
                structlog.processors.CallsiteParameter.FUNC_NAME,
            ]
        ),
        *extra,
        _to_stdlib,
    ]


def foreign_chain(extra: Sequence[Any]) -> list[Any]:
    """The processors giving a stdlib record the fields of a structlog event."""
    return [
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        _record_extras,
        structlog.processors.TimeStamper(fmt="iso"),
        structlog.processors.StackInfoRenderer(),
        structlog.contextvars.merge_contextvars,
        *extra,
    ]


def build_formatter(kind: str, extra: Sequence[Any], *, colors: bool = False) -> logging.Formatter:
    """The formatter of archipel's handlers: ``kind`` ``"json"`` (one object per line) or
    ``"console"`` (``time [level] event [logger] key=value``, ``colors`` as ANSI)."""
    renderer: list[Any]
    if kind == "json":
        renderer = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        tracebacks = structlog.dev.RichTracebackFormatter(
            color_system="truecolor" if colors else None, show_locals=False, max_frames=20
        )
        renderer = [structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=tracebacks)]
    return structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        foreign_pre_chain=foreign_chain(extra),
    )


def file_handlers(
    log_dir: Path, prefix: str, max_bytes: int, backup_count: int, level: int, formatter: logging.Formatter
) -> list[logging.Handler]:
    """``<prefix>.log`` (every record at ``level`` and above) and ``<prefix>_error.log``
    (ERROR and above) in ``log_dir`` (created), each rotating at ``max_bytes``
    (0: never) and keeping ``backup_count`` old files."""
    log_dir.mkdir(parents=True, exist_ok=True)
    handlers: list[logging.Handler] = []
    for name, floor in ((f"{prefix}.log", level), (f"{prefix}_error.log", logging.ERROR)):
        handler = logging.handlers.RotatingFileHandler(
            log_dir / name, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"
        )
        handler.setLevel(floor)
        handler.setFormatter(formatter)
        handlers.append(mark(handler))
    return handlers
