"""Command idempotency keys: ``domain.process(command, idempotency_key=...)``.

The first command processed with a key records the key and the handler's
result in the domain's ``default`` database, in the same transaction as the
handler's state and events: either both are stored or neither is. A later
``process`` with the same key returns the stored result without handling the
command again (or raises :class:`~archipel.errors.DuplicateCommandError`
carrying it, with ``raise_on_duplicate=True``). Because the record lives in
the database, the key holds across processes and restarts (with the memory
database: for the life of the process). A handler that fails records nothing,
so the caller may retry with the same key. Two processes racing with one key
store one result: the second commit fails on the key and gets the first's.

Results are stored as JSON: ``None``, ``str``, ``int``, ``float``, ``bool``,
lists and dicts of them come back equal; a ``UUID``, ``datetime`` or
``Decimal`` comes back as its JSON text. A result JSON cannot hold (an
aggregate, an arbitrary object) is an :class:`~archipel.errors.IncorrectUsageError`
and the handler's work is rolled back. Keys are kept until the table is
truncated (``domain.truncate_database()``); there is no expiry.
"""

from __future__ import annotations

from typing import Any

import msgspec

from archipel.errors import DuplicateCommandError, IncorrectUsageError
from archipel.fields.simple import String, Text
from archipel.port.schema import ModelSchema

__all__ = ["IdempotencyRecord", "idempotency_schema", "lookup", "record", "stored_result"]

#: longest accepted key
MAX_KEY_LENGTH = 255


class IdempotencyRecord:
    """The stored shape of one idempotency key (an internal table, not an element)."""

    key = String(identifier=True, max_length=MAX_KEY_LENGTH)
    result = Text()


def idempotency_schema(domain_snake_name: str) -> ModelSchema:
    """The table ``<domain>_idempotency`` in the ``default`` database."""
    return ModelSchema(
        name="IdempotencyRecord",
        table=f"{domain_snake_name}_idempotency",
        cls=IdempotencyRecord,
        id_field="key",
        fields={"key": IdempotencyRecord.key, "result": IdempotencyRecord.result},
        kind="idempotency",
    )


def check_key(key: Any) -> str:
    """``key`` if it is a usable idempotency key, else ``IncorrectUsageError``."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise IncorrectUsageError(
            f"idempotency_key takes a non-empty string of at most {MAX_KEY_LENGTH} "
            f"characters, got {key!r}"
        )
    return key


def lookup(transaction: Any, schema: ModelSchema, key: str) -> tuple[bool, Any]:
    """``(True, result)`` when ``key`` was recorded, else ``(False, None)``."""
    row = transaction.get(schema, key)
    if row is None:
        return False, None
    return True, msgspec.json.decode(row["result"])


def record(transaction: Any, schema: ModelSchema, key: str, result: Any) -> None:
    """Record ``key`` with ``result`` in ``transaction`` (a twin key fails at commit)."""
    try:
        encoded = msgspec.json.encode(result).decode()
    except (TypeError, msgspec.EncodeError) as exc:
        raise IncorrectUsageError(
            f"the result of a command processed with idempotency_key={key!r} must be "
            f"JSON data (None, str, number, bool, list, dict) to be returned again; got "
            f"{type(result).__name__}: return an identity or a dict instead"
        ) from exc
    transaction.save(schema, {"key": key, "result": encoded}, -1)


def stored_result(key: str, found: tuple[bool, Any], raise_on_duplicate: bool) -> Any:
    """The answer to a repeated key: the first result, or ``DuplicateCommandError``."""
    result = found[1]
    if raise_on_duplicate:
        raise DuplicateCommandError(
            f"a command with idempotency key {key!r} has already been processed",
            original_result=result,
        )
    return result
