"""Tail sampling of the wide access events (Protean's ``[logging.sampling]``).

Only records of ``archipel.access`` and its children (``archipel.access.http``)
are sampled; the first rule that matches keeps one:

1. errors: ``status == "failed"`` or level ERROR and above (``always_keep_errors``);
2. slow: ``status == "slow"`` (``always_keep_slow``);
3. critical streams: ``message_type`` matches a ``critical_streams`` glob
   (``fnmatch``, case-sensitive: ``"Shop.Payment*"``);
4. the rest: kept with probability ``default_rate``.

A kept record gets ``sampling_decision = "kept"``, ``sampling_rule`` (``error``,
``slow``, ``critical_stream``, ``random``) and ``sampling_rate``; a dropped one
reaches no handler. :class:`TailSamplingFilter` sits on the ``archipel.access``
logger (the access events are stdlib records); :class:`TailSamplingProcessor`
does the same for structlog events of ``get_logger("archipel.access")``.
``Domain.configure_logging`` installs both when ``[logging.sampling] enabled = true``.
"""

from __future__ import annotations

import fnmatch
import logging
import random
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

__all__ = ["TailSamplingFilter", "TailSamplingProcessor", "sampling_decision"]

_ACCESS = "archipel.access"
_ACCESS_PREFIX = _ACCESS + "."
_ERROR_LEVEL_NAMES = frozenset({"error", "critical", "fatal"})


class _Rules:
    def __init__(
        self,
        default_rate: float = 0.05,
        always_keep_errors: bool = True,
        always_keep_slow: bool = True,
        critical_streams: Iterable[str] | None = None,
    ) -> None:
        rate = float(default_rate)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"default_rate {default_rate!r} is not a probability; use a number from 0 to 1")
        if isinstance(critical_streams, str):
            raise TypeError(f"critical_streams takes a list of glob patterns, e.g. ['Shop.Payment*']; got {critical_streams!r}")
        self.default_rate = rate
        self.always_keep_errors = bool(always_keep_errors)
        self.always_keep_slow = bool(always_keep_slow)
        self.critical_streams: tuple[str, ...] = tuple(critical_streams or ())

    def decide(self, status: Any, is_error: bool, message_type: Any) -> tuple[str, float] | None:
        return sampling_decision(self, status, is_error, message_type, random.random())


def sampling_decision(
    rules: Any, status: Any, is_error: bool, message_type: Any, draw: float
) -> tuple[str, float] | None:
    """``(rule, rate)`` of a kept event, ``None`` for a dropped one; ``draw`` in [0, 1)."""
    if rules.always_keep_errors and (status == "failed" or is_error):
        return ("error", 1.0)
    if rules.always_keep_slow and status == "slow":
        return ("slow", 1.0)
    if rules.critical_streams and message_type and isinstance(message_type, str):
        if any(fnmatch.fnmatchcase(message_type, pattern) for pattern in rules.critical_streams):
            return ("critical_stream", 1.0)
    if draw < rules.default_rate:
        return ("random", rules.default_rate)
    return None


def _is_access(name: str) -> bool:
    return name == _ACCESS or name.startswith(_ACCESS_PREFIX)


class TailSamplingFilter(_Rules, logging.Filter):
    """A ``logging`` filter sampling the records of ``archipel.access`` (others pass untouched)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        logging.Filter.__init__(self)
        _Rules.__init__(self, *args, **kwargs)

    def filter(self, record: logging.LogRecord) -> bool:
        if not _is_access(record.name):
            return True
        kept = self.decide(
            getattr(record, "status", None), record.levelno >= logging.ERROR, getattr(record, "message_type", None)
        )
        if kept is None:
            return False
        record.sampling_decision = "kept"
        record.sampling_rule, record.sampling_rate = kept
        return True


class TailSamplingProcessor(_Rules):
    """A structlog processor sampling events of ``archipel.access`` (raises ``DropEvent``)."""

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if not _is_access(str(event_dict.get("logger", "") or "")):
            return event_dict
        if "sampling_decision" in event_dict:  # a record the filter kept already
            return event_dict
        level = str(event_dict.get("level", "")).lower()
        kept = self.decide(event_dict.get("status"), level in _ERROR_LEVEL_NAMES, event_dict.get("message_type"))
        if kept is None:
            raise structlog.DropEvent
        event_dict["sampling_decision"] = "kept"
        event_dict["sampling_rule"], event_dict["sampling_rate"] = kept
        return event_dict
