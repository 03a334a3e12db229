"""One row (and event-store appends) committed without a transaction object.

A unit of work holding one object and nothing read commits one write: a
:class:`~archipel.adapters.memory.database.MemoryTransaction` would be built,
filled and committed for it. :func:`commit_row` (``MemoryDatabase.commit_row``)
does the same checks and writes in the same order, at once: the row's
version, then each appended message (nothing is written if one fails), then
the row and the messages. A row with ``unique=True`` fields, outbox rows, or an
event store other than the memory one, go through a transaction as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from archipel.adapters.memory._copy import STORE_LOCK, _encode, _refused
from archipel.adapters.memory.event_store import MemoryEventStore
from archipel.adapters.memory.rows import RowCodec
from archipel.port.conflicts import row_conflict

if TYPE_CHECKING:
    from archipel.adapters.memory.database import MemoryDatabase
    from archipel.port.schema import ModelSchema

__all__ = ["commit_row"]

#: the lock's methods, bound once: CPython 3.11 compiles ``STORE_LOCK.acquire()`` of an
#: imported name as a module's attribute (a method object made, and an unspecialised load,
#: every call)
_lock = STORE_LOCK.acquire
_unlock = STORE_LOCK.release
_row_version = RowCodec.version


def commit_row(
    db: MemoryDatabase,
    schema: ModelSchema,
    record: dict[str, Any],
    expected_version: int,
    store: Any = None,
    messages: Sequence[Any] = (),
    outbox: Sequence[dict[str, Any]] = (),
) -> None:
    """Save ``record`` (expecting ``expected_version``) and append ``messages`` to ``store``,
    atomically; ``outbox``: rows added to the outbox with them (through a transaction)."""
    names = db._unique_names.get(schema)
    if names is None:
        names = db.unique_names(schema)
    if names or outbox or (messages and type(store) is not MemoryEventStore):
        # unique values are claimed, other stores joined, outbox rows added, by a transaction
        tx = db.begin()
        tx.save(schema, record, expected_version)
        if messages:
            store.append(messages, transaction=tx)
        if outbox:
            tx.add_outbox(outbox)
        tx.commit()
        return
    ident = record[schema.id_field]
    # ``db.rows.encode(record, expected_version + 1)``, inline for a known layout
    rows = db.rows
    code = None if "_version" in record else rows._codes.get(tuple(record))
    if code is None:
        row = rows.encode(record, expected_version + 1)
    else:
        try:
            row = _encode([*record.values(), expected_version + 1, code])
        except (OverflowError, UnicodeEncodeError, TypeError) as exc:
            raise _refused(exc) from None  # a value no store keeps (``_copy.encode``)
    tname = schema.table
    # ``with STORE_LOCK:``, as two calls: a ``with`` looks up ``__enter__`` and ``__exit__``
    # on the lock's type and binds ``__exit__`` (a method object) every time
    _lock()
    try:
        table = db.tables.get(tname)
        stored = None if table is None else table.get(ident)
        if stored is None:
            if expected_version != -1:
                _conflict(schema, ident, expected_version, -1)
        elif _row_version(stored) != expected_version:
            _conflict(schema, ident, expected_version, _row_version(stored))
        fresh = store._check(messages) if messages else None
        # every condition holds: apply
        if table is None:
            table = db.tables.setdefault(tname, {})
        table[ident] = row
        if fresh:
            store._apply(fresh)  # the data was encoded when checked: this cannot fail
    finally:
        _unlock()


def _conflict(schema: ModelSchema, ident: Any, expected: int, actual: int) -> None:
    raise row_conflict(schema.cls.__name__, ident, expected, actual, inserting=expected == -1)
