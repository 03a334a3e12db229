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
and the handler's work is rolled back.

Keys expire after ``[idempotency] ttl`` seconds (Protean's key; default 86400,
a day): an expired key is as if never recorded, and the command runs again.
Expired rows are purged on write, cheaply: the row of the key being written,
and a bounded batch (``PURGE_BATCH``) every ``PURGE_EVERY`` writes of a process.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from archipel.core.index import Index
from archipel.core.queryset import Criteria
from archipel.errors import ConfigurationError, DuplicateCommandError, IncorrectUsageError
from archipel.fields.simple import Float, String, Text
from archipel.port.schema import ModelSchema
from archipel.utils.query import Q

__all__ = [
    "DEFAULT_TTL",
    "IdempotencyRecord",
    "idempotency_schema",
    "idempotency_ttl",
    "lookup",
    "record",
    "stored_result",
]

#: longest accepted key
MAX_KEY_LENGTH = 255
#: seconds a key is kept when ``[idempotency] ttl`` is not set (Protean's default: a day)
DEFAULT_TTL = 86400
#: every this many writes (per process), expired keys are purged ...
PURGE_EVERY = 64
#: ... at most this many at a time
PURGE_BATCH = 200
#: settings of ``[idempotency]``: ``redis_url`` and ``error_ttl`` are Protean's and not used
#: (keys live in the ``default`` database; a failed handling stores nothing)
_SETTINGS = frozenset({"ttl", "redis_url", "error_ttl"})
_writes = itertools.count(1)


class IdempotencyRecord:
    """The stored shape of one idempotency key (an internal table, not an element)."""

    key = String(identifier=True, max_length=MAX_KEY_LENGTH)
    result = Text()
    #: Unix time (seconds) after which the key no longer counts
    expires_at = Float()


def idempotency_schema(domain_snake_name: str) -> ModelSchema:
    """The table ``<domain>_idempotency`` in the ``default`` database."""
    return ModelSchema(
        name="IdempotencyRecord",
        table=f"{domain_snake_name}_idempotency",
        cls=IdempotencyRecord,
        id_field="key",
        fields={
            "key": IdempotencyRecord.key,
            "result": IdempotencyRecord.result,
            "expires_at": IdempotencyRecord.expires_at,
        },
        kind="idempotency",
        indexes=(Index("expires_at"),),
    )


def idempotency_ttl(config: Mapping[str, Any]) -> float:
    """``[idempotency] ttl`` in seconds (default :data:`DEFAULT_TTL`); ConfigurationError if wrong."""
    table = config.get("idempotency") or {}
    if not isinstance(table, Mapping):
        raise ConfigurationError("[idempotency] must be a table, e.g. [idempotency] ttl = 86400")
    unknown = sorted(set(table) - _SETTINGS)
    if unknown:
        raise ConfigurationError(
            f"[idempotency] unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_SETTINGS))}"
        )
    ttl = table.get("ttl", DEFAULT_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise ConfigurationError(f"[idempotency] ttl must be a positive number of seconds, got {ttl!r}")
    return float(ttl)


def _expired(row: Mapping[str, Any], now: float) -> bool:
    expires_at = row.get("expires_at")
    return expires_at is not None and expires_at <= now


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
    if row is None or _expired(row, time.time()):
        return False, None
    return True, msgspec.json.decode(row["result"])


def record(transaction: Any, schema: ModelSchema, key: str, result: Any, ttl: float = DEFAULT_TTL) -> None:
    """Record ``key`` with ``result`` for ``ttl`` seconds in ``transaction`` (a twin key fails at commit).

    An expired row of ``key`` is replaced; every :data:`PURGE_EVERY` writes,
    up to :data:`PURGE_BATCH` expired rows of other keys are deleted too.
    """
    try:
        encoded = msgspec.json.encode(result).decode()
    except (TypeError, msgspec.EncodeError) as exc:
        raise IncorrectUsageError(
            f"the result of a command processed with idempotency_key={key!r} must be "
            f"JSON data (None, str, number, bool, list, dict) to be returned again; got "
            f"{type(result).__name__}: return an identity or a dict instead"
        ) from exc
    now = time.time()
    expected = -1  # a new key: a twin recorded first fails this commit
    previous = transaction.get(schema, key)
    if previous is not None and _expired(previous, now):
        expected = int(previous["_version"])  # replace the expired row (a racing twin fails)
    elif next(_writes) % PURGE_EVERY == 0:
        purge_expired(transaction, schema, now)
    transaction.save(schema, {"key": key, "result": encoded, "expires_at": now + ttl}, expected)


def purge_expired(transaction: Any, schema: ModelSchema, now: float | None = None) -> int:
    """Delete up to :data:`PURGE_BATCH` keys expired at ``now``; return how many."""
    moment = time.time() if now is None else now
    rows, _ = transaction.query(schema, Criteria(Q(expires_at__lte=moment), limit=PURGE_BATCH))
    # (the key being written is not expired here: record() replaces that one itself)
    for row in rows:
        transaction.delete(schema, row["key"])
    return len(rows)


def stored_result(key: str, found: tuple[bool, Any], raise_on_duplicate: bool) -> Any:
    """The answer to a repeated key: the first result, or ``DuplicateCommandError``."""
    result = found[1]
    if raise_on_duplicate:
        raise DuplicateCommandError(
            f"a command with idempotency key {key!r} has already been processed",
            original_result=result,
        )
    return result
