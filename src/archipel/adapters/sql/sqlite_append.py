"""Appending to the events table on SQLite: a plain multi-row ``INSERT``, positions settled first.

An append on SQLite runs while its transaction holds the database's write
lock (``BEGIN IMMEDIATE``, taken before the transaction's first statement),
so nothing can come between reading a stream's last position and storing
the next one. Both positions are therefore known before the ``INSERT``,
which carries neither a subquery nor ``RETURNING``:

- a message without a stream position gets its stream's last position
  (one ``SELECT max(position)`` per such stream, in the same transaction)
  plus one plus the number of position-less messages of the stream before
  it in the batch — the value PostgreSQL's statement computes in a subquery;
- global positions are the table's ``INTEGER PRIMARY KEY`` (the rowid):
  SQLite gives a new row the largest rowid plus one, so the rows of one
  ``INSERT`` get consecutive positions ending at ``lastrowid``. When fewer
  rows were stored than sent (``ON CONFLICT (message_id) DO NOTHING``
  skipped a message id already stored, or twice in the batch), the new
  rows are read back from that range.

Why: in SQLite's multi-row ``VALUES`` the subquery and ``RETURNING`` (an
ephemeral table per statement) cost a command's commit about a quarter of
SQLite's work (``bench/storage.py``'s floor; callgrind: ~68 k of ~253 k
instructions). The stored rows are the same as before, so files written
by either version are read by both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from archipel.adapters.sql.writes import unique_violation

if TYPE_CHECKING:
    from archipel.adapters.sql.engine import SqlEngine

__all__ = ["SqliteAppending", "ROW_WIDTH", "heads_needed", "stream_heads", "own_stream"]

#: bind values per row of the SQLite events ``INSERT`` (``event_insert.COLUMNS``)
ROW_WIDTH = 11


def own_stream(meta: Any) -> bool:
    """Whether ``meta`` is a command's in a stream named after its own id
    (``<category>:command-<message id>``: a command with no identity field).

    No other message can be stored there before it: a message with its id is
    itself (an append of it again stores nothing: ``ON CONFLICT (message_id) DO
    NOTHING``, which SQLite checks before the ``(stream, position)`` uniqueness),
    and a stream is named after a command's identity field's value otherwise. So
    it is position 0 without a look-up; were the stream somehow not empty, the
    ``INSERT`` fails on ``(stream, position)``: an error, never a wrong position.
    """
    message_id = meta.id
    return (
        meta.kind == "COMMAND"
        and message_id.__class__ is str
        and meta.stream.endswith(":command-" + message_id)
    )


def stream_heads(messages: Sequence[Any]) -> tuple[list[str], dict[str, int]]:
    """The streams whose last stored position an append of ``messages`` must read (those
    with a position-less message before any message of the stream with a position), and
    ``stream -> -1`` for those of them that are a command's own stream (:func:`own_stream`:
    not read)."""
    needed: list[str] = []
    fresh: dict[str, int] = {}
    known: set[str] = set()
    for message in messages:
        meta = message._metadata
        stream = meta.stream
        if stream in known:
            continue
        known.add(stream)
        if meta.position is None:
            if own_stream(meta):
                fresh[stream] = -1
            else:
                needed.append(stream)
    return needed, fresh


def heads_needed(messages: Sequence[Any]) -> list[str]:
    """The streams :func:`stream_heads` must read."""
    return stream_heads(messages)[0]


class SqliteAppending:
    """The SQLite half of :class:`~archipel.adapters.sql.event_insert.EventWriting`
    (mixed into it; the store sets the attributes)."""

    engine: SqlEngine
    _head_of_sql: str
    _range_sql: str

    def _append_sqlite(
        self, cursor: Any, messages: Sequence[Any], chunk: int
    ) -> list[tuple[Any, int, int]]:
        """Insert ``messages`` (``chunk`` rows per statement); return ``(metadata,
        global_position, position)`` of the new ones.

        One pass settles each position and builds the rows' values
        (``sqlite_values``); a stream's last stored position is read, in the
        transaction, when the pass first meets it without a position (the streams
        of :func:`stream_heads`)."""
        sql = self._head_of_sql

        def head(stream: str) -> int:
            row = cursor.execute(sql, (stream,)).fetchone()
            return -1 if row is None or row[0] is None else int(row[0])

        values, positions = self.sqlite_values(messages, head)  # type: ignore[attr-defined]
        if len(messages) <= chunk:
            return self._insert_rows(cursor, messages, values, positions)
        stored: list[tuple[Any, int, int]] = []
        width = ROW_WIDTH
        for start in range(0, len(messages), chunk):
            end = start + chunk
            stored += self._insert_rows(
                cursor,
                messages[start:end],
                values[start * width : end * width],
                positions[start:end],
            )
        return stored

    def _insert_rows(
        self, cursor: Any, rows: Sequence[Any], values: list[Any], positions: list[int]
    ) -> list[tuple[Any, int, int]]:
        sent = len(rows)
        try:
            cursor.execute(self._insert(sent), values)  # type: ignore[attr-defined]
        except Exception as exc:
            if unique_violation(exc) is not None:
                raise self.position_conflict(cursor, rows, positions) from exc  # type: ignore[attr-defined]
            raise
        count = cursor.rowcount
        if count == sent:  # every row is new: consecutive rowids ending at lastrowid
            first = cursor.lastrowid - sent + 1
            return [
                (message._metadata, first + i, positions[i]) for i, message in enumerate(rows)
            ]
        if count <= 0:  # all already stored (lastrowid is an earlier statement's)
            return []
        last = cursor.lastrowid
        cursor.execute(self._range_sql, (last - count + 1, last))
        found = cursor.fetchall()
        # a message id twice in the batch was stored once, as its first message
        metas = {}
        for message in reversed(rows):
            meta = message._metadata
            metas[meta.id] = meta
        return [(metas[message_id], global_at, position) for message_id, global_at, position in found]
