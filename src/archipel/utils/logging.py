"""Logging (Protean's ``protean.utils.logging``), on the standard library.

archipel logs through ``logging`` under the ``archipel`` logger. These
helpers configure it and carry context (request id, tenant) into every
record of the current task::

    from archipel.utils.logging import add_context, configure_logging, get_logger

    configure_logging(level="INFO")
    add_context(request_id="r-1")
    get_logger(__name__).info("order placed")   # ... request_id=r-1

Protean uses structlog; archipel keeps to ``logging`` (no extra dependency),
so ``get_logger`` returns a ``logging.Logger``.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

__all__ = [
    "add_context",
    "clear_context",
    "configure_logging",
    "current_context",
    "get_logger",
    "ContextFilter",
]

_context: ContextVar[dict[str, Any]] = ContextVar("archipel_log_context", default={})  # noqa: B039 - never mutated
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(archipel_context)s"


def add_context(**values: Any) -> None:
    """Attach ``values`` to every log record of the current task (thread or asyncio task)."""
    _context.set({**_context.get(), **values})


def current_context() -> dict[str, Any]:
    """What :func:`add_context` attached in the current task (a copy)."""
    return dict(_context.get())


def clear_context() -> None:
    """Remove everything :func:`add_context` attached in the current task."""
    _context.set({})


class ContextFilter(logging.Filter):
    """Puts the task's context on each record: as attributes, and as ``archipel_context`` text."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = _context.get()
        for key, value in values.items():
            setattr(record, key, value)
        record.archipel_context = "".join(f" {k}={v}" for k, v in values.items())
        return True


def get_logger(name: str) -> logging.Logger:
    """The logger ``name`` (use ``__name__``)."""
    return logging.getLogger(name)


def configure_logging(level: str | int = "INFO", format: str = _FORMAT) -> None:  # noqa: A002 - Protean's name
    """Log to stderr at ``level`` with the task's context appended to each line.

    Idempotent: calling it again replaces the handler it installed before.
    For JSON lines (and the servers' format) see :func:`archipel.utils.logs.configure_logging`.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_archipel", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler._archipel = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.setFormatter(logging.Formatter(format))
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
