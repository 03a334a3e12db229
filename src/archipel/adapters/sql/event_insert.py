"""Appending to the events table: the multi-row ``INSERT`` and its parameters.

Appends are idempotent by message id (``INSERT ... ON CONFLICT (message_id)
DO NOTHING``: a resent message stores nothing) and ``(stream, position)``
is unique, so a second writer of the same position gets
:class:`~archipel.errors.ExpectedVersionError`. A message without a
position gets the next one of its stream, computed in the same statement.
The statement of each row count is compiled once; its bind names are
cached per row. On SQLite both positions are settled before the ``INSERT``
(:mod:`archipel.adapters.sql.sqlite_append`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from archipel.adapters.memory.event_store import category_of
from archipel.adapters.sql.codec import dumps, encode
from archipel.adapters.sql.sqlite_append import ROW_WIDTH, SqliteAppending, heads_needed, own_stream
from archipel.adapters.sql.writes import unique_violation
from archipel.errors import ExpectedVersionError

if TYPE_CHECKING:
    from archipel.adapters.sql.engine import SqlEngine

__all__ = ["EventWriting", "CHUNK", "COLUMNS", "utc"]

#: rows per INSERT statement (PostgreSQL allows 65535 parameters, SQLite 32766)
CHUNK = 500
#: the columns an append writes (``global_position`` and ``tx_id`` are the database's)
COLUMNS = (
    "message_id",
    "stream",
    "category",
    "type",
    "kind",
    "position",
    "correlation_id",
    "causation_id",
    "time",
    "metadata",
    "data",
)

assert len(COLUMNS) == ROW_WIDTH  # noqa: S101 - sqlite_append slices rows by it


def utc(value: _dt.datetime) -> _dt.datetime:
    """``value`` in UTC (a naive value is taken as UTC)."""
    return value.replace(tzinfo=_dt.UTC) if value.tzinfo is None else value.astimezone(_dt.UTC)


class EventWriting(SqliteAppending):
    """The append half of :class:`~archipel.adapters.sql.event_store.SqlEventStore`
    (mixed into it; the store sets the attributes)."""

    engine: SqlEngine
    table: sa.Table
    _stream_sql: str
    _insert_sql: dict[int, str]
    _bind_keys: dict[tuple[str, int], tuple[str, ...]]
    _position_constraint: str

    def statement_count(self, messages: Sequence[Any]) -> int:
        """Statements an append of ``messages`` takes (a transaction may then skip BEGIN;
        on SQLite, a stream position to read makes it more than one)."""
        count = (len(messages) + CHUNK - 1) // CHUNK
        if not self.engine.is_postgres:
            count += len(heads_needed(messages))
        return count

    def insert(self, cursor: Any, messages: Sequence[Any]) -> list[tuple[Any, int, int]]:
        """Insert ``messages`` with ``cursor``; return ``(metadata, global_position, position)``
        of the new ones, to be set on the messages once the transaction commits.

        On SQLite the transaction must hold the write lock when it takes more
        than one statement (:meth:`statement_count`): ``BEGIN IMMEDIATE``."""
        if not self.engine.is_postgres:
            return self._append_sqlite(cursor, messages, CHUNK)
        if len(messages) <= CHUNK:  # a command's few events: one statement
            return self._insert_chunk(cursor, messages)
        stored: list[tuple[Any, int, int]] = []
        for start in range(0, len(messages), CHUNK):
            stored += self._insert_chunk(cursor, messages[start : start + CHUNK])
        return stored

    def _insert_chunk(self, cursor: Any, chunk: Sequence[Any]) -> list[tuple[Any, int, int]]:
        params = self.params(chunk)
        try:
            cursor.execute(self._insert(len(chunk)), params)
            rows = cursor.fetchall()
        except Exception as exc:
            if unique_violation(exc) is not None:
                raise self.position_conflict(cursor, chunk) from exc
            raise
        # RETURNING gives the new rows in no promised order; a message id twice in the
        # batch was stored once, as its first message (which gets the positions)
        metas = {}
        for message in reversed(chunk):
            meta = message._metadata
            metas[meta.id] = meta
        return [(metas[message_id], global_at, position) for message_id, global_at, position in rows]

    def _keys(self, prefix: str, row: int) -> tuple[str, ...]:
        found = self._bind_keys.get((prefix, row))
        if found is None:
            names = (*COLUMNS[:6], "offset", *COLUMNS[6:])
            found = self._bind_keys[(prefix, row)] = tuple(
                f"{prefix}{name}_{row}" for name in names
            )
        return found

    def params(self, messages: Sequence[Any], prefix: str = "") -> dict[str, Any]:
        """Bind values of an insert of ``messages`` by name (see :meth:`insert_statement`)."""
        params: dict[str, Any] = {}
        # positions known from earlier messages of the batch, and how many
        # position-less messages of a stream came before any known one
        following: dict[str, int] = {}
        unknown: dict[str, int] = {}
        for i, message in enumerate(messages):
            meta = message._metadata
            stream = meta.stream
            position = meta.position
            offset = 0
            if position is not None:
                following[stream] = position + 1
            elif stream in following:
                position = following[stream]
                following[stream] = position + 1
            else:
                offset = unknown.get(stream, 0)
                unknown[stream] = offset + 1
            data = meta.to_dict()
            moment = meta.time
            if moment is not None:
                # PostgreSQL parses the ISO text itself (any offset); naive is UTC
                moment = data["time"] if moment.tzinfo is not None else utc(moment).isoformat()
            data["position"] = position
            (k_id, k_stream, k_category, k_type, k_kind, k_position, k_offset, k_correlation,
             k_causation, k_time, k_metadata, k_data) = self._keys(prefix, i)  # fmt: skip
            params[k_id] = meta.id
            params[k_stream] = stream
            params[k_category] = category_of(stream)
            params[k_type] = meta.type or type(message).__name__
            params[k_kind] = meta.kind
            params[k_position] = position
            params[k_offset] = offset
            params[k_correlation] = meta.correlation_id
            params[k_causation] = meta.causation_id
            params[k_time] = moment
            params[k_metadata] = dumps(data)
            params[k_data] = dumps(message.to_dict())
        return params

    def sqlite_values(
        self, messages: Sequence[Any], head: Callable[[str], int]
    ) -> tuple[list[Any], list[int]]:
        """Bind values of SQLite's insert of ``messages`` in placeholder order
        (:data:`COLUMNS` per row), and the stream position of each message.

        ``head(stream)``: the stream's last stored position (-1: empty), asked once
        for each stream of :func:`~archipel.adapters.sql.sqlite_append.heads_needed`
        (whose first message has no position and is not a command in its own
        stream, :func:`~archipel.adapters.sql.sqlite_append.own_stream`: position 0).
        """
        values: list[Any] = []
        positions: list[int] = []
        following: dict[str, int] = {}  # the next position of a stream seen in the batch
        for message in messages:
            meta = message._metadata
            stream = meta.stream
            position = meta.position
            if position is None:
                position = following.get(stream)
                if position is None:
                    position = 0 if own_stream(meta) else head(stream) + 1
            following[stream] = position + 1
            positions.append(position)
            data = meta.to_dict()
            moment = meta.time
            if moment is not None:
                # SQLite compares the text: it is stored in UTC
                moment = data["time"] if moment.tzinfo is _dt.UTC else utc(moment).isoformat()
            data["position"] = position
            values += (
                meta.id,
                stream,
                category_of(stream),
                meta.type or type(message).__name__,
                meta.kind,
                position,
                meta.correlation_id,
                meta.causation_id,
                moment,
                encode(data).decode(),  # codec.dumps, inline
                encode(message.to_dict()).decode(),
            )
        return values, positions

    def _insert(self, rows: int) -> str:
        sql = self._insert_sql.get(rows)
        if sql is None:
            sql = self._insert_sql.setdefault(rows, self._compile_insert(rows))
        return sql

    def _compile_insert(self, rows: int) -> str:
        if self.engine.is_postgres:
            return self.engine.compile(self.insert_statement(rows))
        return self.sqlite_insert_sql(rows)

    def sqlite_insert_sql(self, rows: int) -> str:
        """SQLite's ``INSERT`` of ``rows`` messages whose positions are settled
        (:mod:`~archipel.adapters.sql.sqlite_append`): ``?`` placeholders, bound from
        a sequence at a fraction of the cost of names from a dict, :data:`COLUMNS` per row."""
        c = self.table.c
        values = [
            {name: sa.bindparam(f"{name}_{i}", type_=c[name].type) for name in COLUMNS}
            for i in range(rows)
        ]
        statement = (
            sqlite.insert(self.table).values(values).on_conflict_do_nothing(index_elements=["message_id"])
        )
        sql, order = self.engine.compile_positional(statement)
        expected = tuple(f"{name}_{row}" for row in range(rows) for name in COLUMNS)
        if order != expected:  # pragma: no cover - SQLAlchemy changed its bind order
            raise AssertionError(f"the events INSERT binds {order}, not {expected}")
        return sql

    def insert_statement(self, rows: int, prefix: str = "") -> Any:
        """PostgreSQL's ``INSERT`` of ``rows`` messages, idempotent by id, returning what was stored.

        Bind names are ``<prefix><column>_<row>``; a message without a position
        gets the stream's next one (``offset`` counts the position-less messages
        of the same stream before it in the batch).
        """
        t = self.table
        c = t.c
        e = t.alias("e")
        values = []
        for i in range(rows):
            row: dict[str, Any] = {
                name: sa.bindparam(f"{prefix}{name}_{i}", type_=c[name].type) for name in COLUMNS
            }
            last = (
                sa.select(sa.func.coalesce(sa.func.max(e.c.position), -1))
                .where(e.c.stream == row["stream"])
                .scalar_subquery()
            )
            row["position"] = sa.func.coalesce(
                row["position"], last + 1 + sa.bindparam(f"{prefix}offset_{i}", type_=sa.Integer())
            )
            values.append(row)
        return (
            postgresql.insert(t)
            .values(values)
            .on_conflict_do_nothing(index_elements=["message_id"])
            .returning(c.message_id, c.global_position, c.position)
        )

    def owns_constraint(self, exc: BaseException) -> bool:
        """Whether ``exc`` violates this table's ``(stream, position)`` uniqueness."""
        constraint = unique_violation(exc)
        if constraint is None:
            return False
        return constraint == self._position_constraint or constraint == (
            f"{self.table.name}.stream, {self.table.name}.position"
        )

    def position_conflict(
        self, cursor: Any, chunk: Sequence[Any], settled: Sequence[int] | None = None
    ) -> ExpectedVersionError:
        """The error naming the stream whose position was taken (looked up: drivers do not say).

        ``settled``: the position each message was sent with (SQLite settles those
        of position-less messages before the ``INSERT``). On PostgreSQL the failed
        statement aborted its transaction, so the lookup runs on another
        connection and ``cursor`` is not used.
        """
        metas = [m._metadata for m in chunk]
        sent = [
            (meta.stream, meta.position if settled is None else settled[i]) for i, meta in enumerate(metas)
        ]
        conflict = None
        seen: set[tuple[str, int]] = set()
        for stream, position in sent:
            if position is not None:
                if (stream, position) in seen:
                    conflict = (stream, position)  # twice in the batch itself
                    break
                seen.add((stream, position))
        if conflict is None:
            explicit = [(stream, position) for stream, position in sent if position is not None]

            def taken(conn: Any) -> Any:
                for stream, position in explicit:
                    params = {"stream": stream, "start": position, "end": position}
                    if conn.execute(self._stream_sql, params).fetchone() is not None:
                        return stream, position
                return None

            if self.engine.is_postgres:
                # the failed statement aborted the transaction: ask on another connection
                conflict = self.engine.run(taken)
            else:
                conflict = taken(cursor.connection)
        stream, position = conflict or sent[0]
        return ExpectedVersionError(
            f"stream {stream!r} already has a message at position {position}: another "
            "writer got there first; reload and retry",
            stream=stream,
            expected=position,
        )
