"""Unique keys of the memory database: which values of a row must be unique, and the
index of the values rows hold.

A key is a ``unique=True`` field's name or the fields (a tuple) of a unique index
(``Index(..., unique=True)`` without ``where``); its value is the field's value or the
tuple of the index's values. A value with a None in it is no value (NULLs are distinct,
as in SQL).
"""

from __future__ import annotations

from typing import Any

from archipel.port.conflicts import UniqueKey, unique_value

__all__ = ["hashable", "reindex"]

def hashable(value: Any) -> bool:
    """Whether ``value`` can be a key of the index (a list or dict cannot)."""
    try:
        hash(value)
    except TypeError:
        return False
    return True


def reindex(
    index: dict[UniqueKey, dict[Any, Any]],
    names: tuple[UniqueKey, ...],
    ident: Any,
    old: dict[str, Any] | None,
    new: Any,
    deleted: object,
) -> None:
    """Move ``ident``'s unique values from its ``old`` row to its ``new`` one (none when
    ``new`` is the ``deleted`` marker)."""
    for name in names:
        values = index.setdefault(name, {})
        if old is not None:
            value = unique_value(old, name)
            if value is not None and hashable(value) and values.get(value) == ident:
                del values[value]
        if new is not deleted:
            value = unique_value(new, name)
            if value is not None and hashable(value):
                values[value] = ident
