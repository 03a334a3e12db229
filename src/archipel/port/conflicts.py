"""The errors every store gives for a write that found another version of its row
(:func:`row_conflict`) or a unique value another row holds (:func:`unique_conflict`)."""

from __future__ import annotations

from typing import Any

from archipel.errors import ExpectedVersionError, ValidationError

__all__ = ["UniqueKey", "row_conflict", "unique_conflict", "unique_label", "unique_value"]


def row_conflict(
    name: str, ident: Any, expected: int, actual: int | None, *, inserting: bool
) -> ExpectedVersionError:
    """The error of an insert (``inserting``) of an existing identity, or of an update of
    ``name`` ``ident`` based on version ``expected`` that found ``actual`` (-1 or None: the
    row is gone)."""
    if inserting:
        message = (
            f"{name} {ident!r} already exists: load it and change it "
            "instead of adding a new one with the same identity"
        )
    else:
        message = (
            f"{name} {ident!r} was changed concurrently (expected version "
            f"{expected}, found {actual}): reload it and retry"
        )
    return ExpectedVersionError(message, stream=str(ident), expected=expected, actual=actual)


#: what a unique value is kept under: a ``unique=True`` field's name, or the fields of a
#: unique index
UniqueKey = str | tuple[str, ...]


def unique_value(record: dict[str, Any], key: UniqueKey) -> Any:
    """The value ``record`` holds under unique ``key``: a field's value, or the tuple of an
    index's values (None when one of them is None: NULLs are distinct)."""
    if type(key) is str:
        return record.get(key)
    values = tuple(record.get(name) for name in key)
    return None if None in values else values


def unique_label(key: UniqueKey) -> str:
    """The name a unique violation is reported under (Protean's: fields joined by ``_``)."""
    return key if type(key) is str else "_".join(key)


def unique_message(owner: str, key: UniqueKey, value: Any) -> str:
    """What a second row with ``value`` under ``key`` is told (the words of the SQL stores)."""
    if type(key) is str:
        return f"{owner} with {key}={value!r} already exists: {key} is unique"
    names = ", ".join(key)
    return f"{owner} with ({names})={value!r} already exists: ({names}) is unique together"


def unique_conflict(owner: str, key: UniqueKey, value: Any) -> ValidationError:
    """The error of a row of ``owner`` holding ``value`` under unique ``key``, which another
    row holds: a :class:`~archipel.errors.ValidationError` under :func:`unique_label`."""
    return ValidationError({unique_label(key): [unique_message(owner, key, value)]})
