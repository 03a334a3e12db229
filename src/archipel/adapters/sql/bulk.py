"""Bulk reads of the event log and bulk loads of a table (the :mod:`archipel.port.bulk` port).

:class:`SqlBulkLog` reads a batch of the log with one query. On SQLite its
result is one JSON text, ``[[position, type, id, stream, metadata, data,
global_position], ...]`` (the database concatenates the stored JSON texts,
msgspec decodes the whole batch in one call): a fraction of the cost of a
decoded row per message. On PostgreSQL building that text cost the server
more than the rows themselves (2.5 µs of its CPU per message against 1.5
for the rows): the batch comes as rows, the ``json`` columns as the text
they store (no ``json.loads``), and the data of the whole batch is decoded
by msgspec in one call (each stored value is one JSON value: the ``json``
type checked it on insert). Either way each envelope is kept as it is
stored (JSON, not decoded) for :meth:`~archipel.core.message.Metadata.adopt`
to decode when something reads it: a replay routes by the type, id and
stream columns and rarely reads the rest. On PostgreSQL the batch follows the gap-free log order of
:mod:`archipel.adapters.sql.gapfree` (rows of finished transactions only,
in ``(tx_id, global_position)`` order), as ``read_all`` does.

:class:`SqlBulkLoad` writes new rows in the caller's
:class:`~archipel.adapters.sql.transaction.SqlTransaction`: ``COPY ...
FROM STDIN`` on PostgreSQL (binary when every column's type allows it:
:mod:`archipel.adapters.sql.copy_types`, else text), one ``executemany`` on
SQLite, with the value conversions of
:class:`~archipel.adapters.sql.records.RecordTable` (the rows are those an
ordinary save writes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from operator import itemgetter
from typing import Any

import msgspec

from archipel.adapters.sql.copy_types import binary_types
from archipel.adapters.sql.engine import loads
from archipel.adapters.sql.records import RecordTable
from archipel.errors import ArchipelError, DeserializationError
from archipel.port.bulk import RawMessage
from archipel.port.schema import ModelSchema

__all__ = ["FIRST_BATCH", "SqlBulkLoad", "SqlBulkLog", "bulk_load", "bulk_log"]

#: a batch (SQLite): per message its position, type, id and stream (columns), its envelope
#: as stored (the JSON checked, not decoded: a replay rarely reads it), its data and
#: its global position (last: the text of a batch ends with the position of its last message)
_decode = msgspec.json.Decoder(list[tuple[int, Any, Any, Any, msgspec.Raw, dict[str, Any], int]]).decode
#: the data of a batch's messages (PostgreSQL), as one JSON array of their stored texts
_decode_data = msgspec.json.Decoder(list[dict[str, Any]]).decode

#: a batch's query result: (the JSON text (SQLite) or the rows (PostgreSQL), None when
#: empty, its size, its last global position)
_Fetched = tuple[Any, int, int]

#: the most messages the first batch holds (the caller waits for it: nothing to overlap yet)
FIRST_BATCH = 500

#: the plan a batch's query must get on PostgreSQL (for its transaction only)
_ORDERED_SCAN = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off"


def bulk_log(store: Any) -> SqlBulkLog | None:
    """The bulk reader of ``store`` when it is a SQL event store, else None."""
    from archipel.adapters.sql.event_store import SqlEventStore

    return SqlBulkLog(store) if isinstance(store, SqlEventStore) else None


def bulk_load(database: Any) -> SqlBulkLoad | None:
    """The bulk writer of ``database`` when it is a SQL database, else None."""
    from archipel.adapters.sql.database import SqlDatabase

    return SqlBulkLoad(database) if isinstance(database, SqlDatabase) else None


class SqlBulkLog:
    """:class:`~archipel.port.bulk.BulkLog` of a SQL event store (see the module docstring)."""

    def __init__(self, store: Any) -> None:
        self.engine = store.engine
        self.table = store.table
        quote = self.engine.dialect.identifier_preparer.quote
        self._name = quote(self.table.name)
        self._postgres = self.engine.is_postgres
        #: reads may run on another thread while the caller writes (not one shared connection)
        self.parallel = not self.engine.is_memory
        #: CPU seconds spent fetching batches (on whichever thread ran the queries)
        self.cpu_seconds = 0.0

    def _sql(self, categories: int, cursor: bool) -> tuple[str, str]:
        """(the batch's query: one JSON text on SQLite, rows on PostgreSQL; the same batch
        row by row with its stored JSON as text, to name an undecodable message) for
        ``categories`` names; ``cursor``: after the message at ``%(after)s`` in log order (on
        PostgreSQL its tx id is looked up by its global position: the log is append-only)."""
        t = self._name
        if self._postgres:
            # after the last message read, in log order: its tx id looked up by its position
            after = (
                f"(tx_id, global_position) > ((SELECT tx_id FROM {t} WHERE global_position = %(after)s), "  # noqa: S608
                "%(after)s)"
                if cursor
                else "global_position > %(after)s"
            )
            # one subquery per category, each an ordered scan of the (category, tx_id,
            # global_position) index that stops at the limit: ``category = ANY(...)``
            # would read every later row of the categories and sort them, per batch
            parts = [
                f"SELECT tx_id, global_position, position, type, message_id, stream, metadata, data FROM {t} "  # noqa: S608 - quoted identifier
                f"WHERE category = %(c{i})s "
                f"AND tx_id < pg_snapshot_xmin(pg_current_snapshot()) AND {after} "
                "ORDER BY tx_id, global_position LIMIT %(limit)s"
                for i in range(categories)
            ]
            inner = (
                parts[0]
                if len(parts) == 1
                else "SELECT * FROM (" + " UNION ALL ".join(f"({part})" for part in parts)  # noqa: S608
                + ") AS merged ORDER BY tx_id, global_position LIMIT %(limit)s"
            )
            # the statements are built from the quoted table name only. The batch as rows:
            # the last one's global position is the next batch's cursor, so the next query
            # can start before this batch is decoded
            text = (
                "SELECT position, type, message_id, stream, metadata, data, global_position "  # noqa: S608
                f"FROM ({inner}) AS batch ORDER BY tx_id, global_position"
            )
            rows = (
                f"SELECT global_position, message_id, metadata::text, data::text FROM ({inner}) "  # noqa: S608
                "AS batch ORDER BY tx_id, global_position"
            )
            return text, rows
        names = ", ".join(f":c{i}" for i in range(categories))
        inner = (
            f"SELECT global_position, position, type, message_id, stream, metadata, data FROM {t} "  # noqa: S608
            f"WHERE category IN ({names}) AND global_position > :after "
            "ORDER BY global_position LIMIT :limit"
        )
        text = (
            "SELECT '[' || group_concat('[' || position || ',' "  # noqa: S608
            "|| json_quote(type) || ',' || json_quote(message_id) || ',' || json_quote(stream) || ',' "
            f"|| metadata || ',' || data || ',' || global_position || ']', ',') || ']', count(*), NULL, "
            f"max(global_position) FROM ({inner})"
        )
        rows = f"SELECT global_position, message_id, metadata, data FROM ({inner})"  # noqa: S608
        return text, rows

    def batches(self, categories: Sequence[str], limit: int) -> Iterator[list[RawMessage]]:
        """See :meth:`archipel.port.bulk.BulkLog.batches`.

        When reads may run on other threads (``parallel``), the query of the
        next batch runs on a thread of its own while this one is decoded:
        the database prepares batch k+1 as the caller decodes batch k.
        """
        wanted = list(dict.fromkeys(categories))
        names: dict[str, Any] = {f"c{i}": name for i, name in enumerate(wanted)}
        pool = ThreadPoolExecutor(1, thread_name_prefix="archipel-rebuild-fetch") if self.parallel else None

        def start(size: int, after: int) -> tuple[Future[_Fetched], dict[str, Any], str]:
            params = {**names, "after": after, "limit": size}
            text_sql, rows_sql = self._sql(len(wanted), after > 0)
            future: Future[_Fetched]
            if pool is not None:
                future = pool.submit(self._fetch, text_sql, params)
            else:
                future = Future()
                future.set_result(self._fetch(text_sql, params))
            return future, params, rows_sql

        # nothing runs beside the first read: a short one gets the caller going sooner
        size = min(limit, FIRST_BATCH)
        pending: Future[_Fetched] | None
        pending, params, rows_sql = start(size, 0)
        try:
            while pending is not None:
                text, count, last = pending.result()
                pending = None
                if not count:
                    return
                current, current_sql = params, rows_sql
                if count >= size:  # a full batch: there may be more
                    size = limit
                    pending, params, rows_sql = start(size, last)
                yield self._decoded(text, current, current_sql)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)  # a query in flight ends; its result is dropped

    def _decoded(self, text: Any, params: dict[str, Any], rows_sql: str) -> list[RawMessage]:
        """The messages of a batch's JSON text or rows (``params``: the batch's query, for errors)."""
        try:
            if self._postgres:
                # the rows' stored data texts, decoded in one call
                datas = _decode_data("[" + ",".join(map(_data_of, text)) + "]")
                return [
                    (global_position, {"type": type_, "id": message_id, "stream": stream, "_stored": stored,
                                       "global_position": global_position, "position": position}, data)
                    for (position, type_, message_id, stream, stored, _, global_position), data
                    in zip(text, datas, strict=True)
                ]
            rows = _decode(text)
        except msgspec.DecodeError as exc:
            self._culprit(rows_sql, params)
            raise DeserializationError(
                f"after global position {params['after']}", f"a batch of the log cannot be decoded: {exc}",
                {"table": self.table.name},
            ) from exc
        rows.sort(key=_last)  # group_concat keeps no promised order
        return [
            (global_position, {"type": type_, "id": message_id, "stream": stream, "_stored": stored,
                               "global_position": global_position, "position": position}, data)
            for position, type_, message_id, stream, stored, data, global_position in rows
        ]

    def _fetch(self, sql: str, params: dict[str, Any]) -> _Fetched:
        """(the batch as JSON text or rows, None when empty, its size, its last global position)."""
        started = time.thread_time()

        def run(conn: Any) -> Any:
            if self._postgres:
                from psycopg.types.string import TextLoader

                with conn.transaction(), conn.cursor() as cursor:
                    # an ordered scan of the category index, whatever the table's statistics
                    # say (never analysed, they promise a handful of rows: a bitmap scan and
                    # a sort of every later row would be chosen, once per batch)
                    cursor.execute(_ORDERED_SCAN)
                    # the json columns as the text they store (decoded by the caller)
                    cursor.adapters.register_loader("json", TextLoader)
                    return cursor.execute(sql, params).fetchall()
            return conn.execute(sql, params).fetchone()

        try:
            row = self.engine.run(run)
        finally:
            self.cpu_seconds += time.thread_time() - started
        if self._postgres:
            return (row, len(row), row[-1][6]) if row else (None, 0, 0)
        if row is None or row[0] is None:
            return None, 0, 0
        return str(row[0]), int(row[1]), int(row[3])

    def _culprit(self, sql: str, params: dict[str, Any]) -> None:
        """Raise the DeserializationError of the first row of the batch that is no JSON."""
        rows = self.engine.run(lambda conn: conn.execute(sql, params).fetchall())
        for global_position, message_id, meta, data in rows:
            for part, text in (("metadata", meta), ("data", data)):
                try:
                    if not isinstance(loads(text), dict):
                        raise msgspec.DecodeError("not a JSON object")
                except msgspec.DecodeError as exc:
                    raise DeserializationError(
                        str(message_id),
                        f"its stored {part} (global position {global_position}) is not valid JSON: {exc}",
                        {"global_position": global_position, "table": self.table.name},
                    ) from exc


def _last(row: Any) -> Any:
    return row[-1]


_data_of = itemgetter(5)


class SqlBulkLoad:
    """:class:`~archipel.port.bulk.BulkLoad` of a SQL database (see the module docstring)."""

    def __init__(self, database: Any) -> None:
        self.database = database
        self.engine = database.engine
        self._sql: dict[str, str] = {}
        #: per table: the binary ``COPY`` encoders of its columns, or None (text ``COPY``)
        self._binary: dict[str, list[str] | None] = {}
        #: loads may run on another thread while the caller reads (not one shared connection)
        self.parallel = not self.engine.is_memory

    def load(self, transaction: Any, schema: ModelSchema, records: Sequence[dict[str, Any]]) -> None:
        """See :meth:`archipel.port.bulk.BulkLoad.load`."""
        if records:
            self.load_rows(transaction, schema, _values(self.database.record_table(schema), records))

    def row_getter(self, schema: ModelSchema) -> Callable[[dict[str, Any]], tuple[Any, ...]] | None:
        """See :meth:`archipel.port.bulk.BulkLoad.row_getter`: the table's columns picked as
        they are, ``_version`` last (None when a column needs converting: JSON, floats)."""
        table = self.database.record_table(schema)
        if table.json_names or table.float_names:
            return None
        return itemgetter(*table.read_names)

    def load_rows(self, transaction: Any, schema: ModelSchema, rows: Sequence[tuple[Any, ...]]) -> None:
        """See :meth:`archipel.port.bulk.BulkLoad.load_rows`."""
        if rows:
            self._insert(transaction.connection(), self.database.record_table(schema), rows)

    def load_rows_alone(self, schema: ModelSchema, rows: Sequence[tuple[Any, ...]]) -> None:
        """See :meth:`archipel.port.bulk.BulkLoad.load_rows_alone`.

        On PostgreSQL the ``COPY`` runs by itself on a pooled connection (in
        autocommit, as every pooled connection is): one statement is atomic,
        and it spares the ``BEGIN`` and ``COMMIT`` round trips. SQLite runs
        its ``executemany`` in a transaction (alone, each row would commit).
        """
        if not rows:
            return
        table = self.database.record_table(schema)
        if self.engine.is_postgres:
            self.engine.run(lambda conn: self._insert(conn, table, rows), retry=False)
            return
        transaction = self.database.begin()
        try:
            self._insert(transaction.connection(), table, rows)
            transaction.commit()
        except BaseException:
            transaction.rollback()
            raise

    def _insert(self, conn: Any, table: RecordTable, rows: Sequence[tuple[Any, ...]]) -> None:
        """``rows`` into ``table`` on ``conn`` (in whatever transaction it is)."""
        try:
            if self.engine.is_postgres:
                types = self._binary_types(table, conn)
                statement = self._statement(table)
                if types is not None:
                    statement += " (FORMAT BINARY)"
                with conn.cursor() as cursor, cursor.copy(statement) as copy:
                    if types is not None:
                        copy.set_types(types)
                    write = copy.write_row
                    for row in rows:
                        write(row)
            else:
                conn.executemany(self._statement(table), rows)
        except ArchipelError:
            raise
        except Exception as exc:
            raise self.engine.translate(exc) from exc

    def _binary_types(self, table: RecordTable, conn: Any) -> list[str] | None:
        """The binary ``COPY`` encoders of ``table``'s columns, checked once against the
        catalog (:func:`~archipel.adapters.sql.copy_types.binary_types`), or None."""
        name = table.name
        if name not in self._binary:
            quote = self.engine.dialect.identifier_preparer.quote
            self._binary[name] = binary_types(table, quote(name), conn)
        return self._binary[name]

    def _statement(self, table: RecordTable) -> str:
        found = self._sql.get(table.name)
        if found is None:
            quote = self.engine.dialect.identifier_preparer.quote
            c = table.table.c
            columns = ", ".join(quote(c[name].name) for name in table.read_names)
            if self.engine.is_postgres:
                found = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
            else:
                marks = ", ".join("?" for _ in table.read_names)
                found = f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})"  # noqa: S608 - quoted identifiers
            self._sql[table.name] = found
        return found


def _values(table: RecordTable, records: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Each record's bind values in column order, ``_version`` 0 last (as ``RecordTable.params``)."""
    names = table.names
    if not table.json_names and not table.float_names:
        getter = itemgetter(*names) if len(names) > 1 else None
        try:
            if getter is not None:
                return [(*getter(record), 0) for record in records]
            return [(record[names[0]], 0) for record in records]
        except KeyError:
            pass  # a record without some column: NULL, as params() does
    read_names = table.read_names
    return [tuple(map(table.params(record, 0).__getitem__, read_names)) for record in records]
