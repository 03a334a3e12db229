"""Rows of the in-memory database: a record's values, version and layout code as msgpack ``bytes``.

A row is about a third of a dict's size, never tracked by the garbage
collector, and isolated by construction: every read decodes fresh
containers.
"""

from __future__ import annotations

from typing import Any

from archipel.adapters.memory._copy import STORE_LOCK, _encode, _refused, decode

__all__ = ["RowCodec"]


class RowCodec:
    """Rows as ``bytes``: a record's values with its version and layout code, msgpack-encoded.

    A layout is the tuple of a record's keys; a database keeps each one once,
    so a row costs its values only. Decoding gives a fresh dict with
    ``_version``.
    """

    def __init__(self) -> None:
        self._layouts: list[tuple[str, ...]] = []
        self._codes: dict[tuple[str, ...], int] = {}

    def encode(self, record: dict[str, Any], version: int) -> bytes:
        """``record`` (its ``_version`` key, if any, replaced by ``version``) as a row."""
        if "_version" in record:
            record = {k: v for k, v in record.items() if k != "_version"}
        layout = tuple(record)
        code = self._codes.get(layout)
        if code is None:
            with STORE_LOCK:
                code = self._codes.get(layout)
                if code is None:
                    code = self._codes[layout] = len(self._layouts)
                    self._layouts.append(layout)
        try:
            return _encode([*record.values(), version, code])
        except (OverflowError, UnicodeEncodeError, TypeError) as exc:
            raise _refused(exc) from None  # a value no store keeps (``_copy.encode``)

    def decode(self, row: bytes) -> dict[str, Any]:
        """A fresh record with ``_version`` from a row."""
        values = decode(row)
        code = values.pop()
        version = values.pop()
        record = dict(zip(self._layouts[code], values, strict=True))
        record["_version"] = version
        return record

    @staticmethod
    def version(row: bytes) -> int:
        """The version of a row."""
        return decode(row)[-2]  # type: ignore[no-any-return]
