"""The bulk port: what a store offers a replay (a projection rebuild) to go fast.

A rebuild reads the event log from the start and writes every row of an
emptied table. Through the ordinary ports that costs a query and a decoded
row per message and a statement per batch of rows; a store implementing
:class:`BulkLog` reads a whole batch of the log in one query (its JSON
decoded in one call), and one implementing :class:`BulkLoad` writes
new rows the fastest way its database has (``COPY`` on PostgreSQL,
``executemany`` on SQLite) in the caller's transaction.

Both are optional: a rebuild uses them when the event store and the
projection's database offer them (``bulk_log`` / ``bulk_load`` in
:mod:`archipel.adapters.sql.bulk`) and the ordinary ports otherwise (the
memory adapters), with the same rows as the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from archipel.port.schema import ModelSchema

__all__ = ["BulkLoad", "BulkLog", "RawMessage"]

#: ``(global_position, metadata, data)``: one stored message, its data decoded, with
#: ``metadata["global_position"]`` and ``metadata["position"]`` set from their columns;
#: fresh dicts the consumer may take over (:meth:`~archipel.core.message.Metadata.adopt`).
#: ``metadata`` holds either envelope fields only
#: (:class:`~archipel.core.message.StoredEnvelope`: ``time`` parsed when it could be),
#: or ``type``, ``id`` and ``stream`` with ``_stored``, the envelope's JSON as stored
#: (bytes-like, checked to be JSON), decoded when the envelope is first read
RawMessage = tuple[int, dict[str, Any], dict[str, Any]]


class BulkLog(Protocol):
    """Reads the messages of some categories in log order, a large batch per query."""

    #: batches may be read on a thread of their own while the caller writes
    parallel: bool

    def batches(self, categories: Sequence[str], limit: int) -> Iterator[list[RawMessage]]:
        """Every message of ``categories`` in log order (the order ``read_all`` gives),
        at most ``limit`` per batch (the first may hold fewer: it is read while the
        caller waits); ends after the last one committed when it got there.

        A stored message whose JSON cannot be decoded raises
        :class:`~archipel.errors.DeserializationError` naming it (never skipped).
        """
        ...


class BulkLoad(Protocol):
    """Writes new rows into a table in the caller's transaction, in bulk."""

    #: loads may run on a thread of their own while the caller reads
    parallel: bool

    def load(self, transaction: Any, schema: ModelSchema, records: Sequence[dict[str, Any]]) -> None:
        """Insert ``records`` (primitive records, as ``to_dict`` gives them) at version 0
        in ``transaction`` (a transaction of this database), after its buffered writes.

        Every identity must be new to the table; a duplicate fails the
        transaction (:class:`~archipel.errors.DatabaseError`).
        """
        ...

    def row_getter(self, schema: ModelSchema) -> Callable[[dict[str, Any]], tuple[Any, ...]] | None:
        """``row(values)``: the bind row of :meth:`load_rows` from a record holding the
        table's columns and ``_version`` as they are stored, or None when some column's
        value needs converting (then use :meth:`load`)."""
        ...

    def load_rows(self, transaction: Any, schema: ModelSchema, rows: Sequence[tuple[Any, ...]]) -> None:
        """:meth:`load` of rows made by :meth:`row_getter` (each with its ``_version``)."""
        ...

    def load_rows_alone(self, schema: ModelSchema, rows: Sequence[tuple[Any, ...]]) -> None:
        """:meth:`load_rows` in a transaction of its own, committed when this returns:
        every row or none (for a batch that writes nothing else)."""
        ...
