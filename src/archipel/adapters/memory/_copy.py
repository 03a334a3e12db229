"""Isolation for in-memory storage: records are copied in and out.

A msgpack round trip copies nested containers in about a microsecond,
keeps values in their stored (primitive) form, and so behaves like a real
database: no caller ever holds a reference into the store.
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec

from archipel.errors import ValidationError

__all__ = ["clone", "decode", "encode", "STORE_LOCK"]

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode

#: one lock for every in-memory adapter of the process: a unit of work that
#: writes records and events checks and applies both under it, atomically
STORE_LOCK = threading.RLock()


def encode(record: Any) -> bytes:
    """``record`` (JSON-like data) as msgpack bytes: the stored form of the memory adapters.

    Data no store keeps is a :class:`ValidationError` naming ``payload`` (see :func:`clone`).
    """
    try:
        return _encode(record)
    except (OverflowError, UnicodeEncodeError, TypeError) as exc:
        raise _refused(exc) from None


def decode(stored: bytes | bytearray) -> Any:
    """Fresh containers from :func:`encode`'s bytes (nothing shared with the store)."""
    return _decode(stored)


def _refused(exc: Exception) -> ValidationError:
    reason = str(exc).split(":")[0] if isinstance(exc, UnicodeEncodeError) else str(exc)
    return ValidationError({"payload": [f"holds a value no store keeps: {reason}"]})


def clone(record: Any) -> Any:
    """Deep copy of JSON-like data (dicts, lists, scalars, datetimes).

    Data no store keeps (an integer beyond 64 bits, a lone surrogate, an object
    msgpack cannot encode; only raw broker payloads can hold one, field values
    are validated when built) is a :class:`ValidationError` naming ``payload``.
    """
    try:
        return _decode(_encode(record))
    except (OverflowError, UnicodeEncodeError, TypeError) as exc:
        raise _refused(exc) from None
