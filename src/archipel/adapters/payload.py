"""Raw broker payloads: only values every broker carries faithfully.

``broker.publish(stream, payload)`` takes a dict that goes out as JSON on the
SQL and Redis brokers and as msgpack in memory. A value one of them would
refuse or alter — an integer outside 64 bits, NaN or an infinity (JSON has
neither: they would arrive as ``null``), a lone surrogate, a non-text dict
key (JSON keys are text: ``{1: "x"}`` would arrive as ``{"1": "x"}``), or
anything that is not a JSON value (bytes, a datetime, a Decimal...) — is a
:class:`~archipel.errors.ValidationError` naming where it is, on every
broker, before anything is sent.

Every broker's ``publish`` checks its payload; ``publish_many`` is the relay's
path, whose payloads are messages the framework built from validated fields.
"""

from __future__ import annotations

import math
from typing import Any

from archipel.errors import ValidationError

__all__ = ["check_payload"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def check_payload(payload: Any) -> None:
    """Raise :class:`ValidationError` (key ``payload``) if ``payload`` holds a value a broker cannot carry.

    A payload that is not a dict is a ``TypeError`` (a programming error).
    """
    if not isinstance(payload, dict):
        raise TypeError(f"broker payloads are dicts, got {type(payload).__name__}")
    problem = _problem(payload)
    if problem is not None:
        raise ValidationError({"payload": [problem]})


def _problem(payload: Any) -> str | None:
    stack: list[tuple[Any, str]] = [(payload, "payload")]
    while stack:
        value, where = stack.pop()
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return f"{where} holds a lone surrogate, which no broker can carry"
            continue
        if isinstance(value, int):
            if not _INT64_MIN <= value <= _INT64_MAX:
                return f"{where} is an integer outside 64 bits"
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                return f"{where} is {value!r}, which JSON cannot carry"
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    return f"{where} has the key {key!r}: keys are text"
                stack.append((item, f"{where}.{key}"))
            continue
        if isinstance(value, (list, tuple)):
            stack.extend((item, f"{where}[{index}]") for index, item in enumerate(value))
            continue
        return f"{where} is a {type(value).__name__}, not a JSON value (text, number, bool, null, list, dict)"
    return None
