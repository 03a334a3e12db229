"""The database broker's hot paths on PostgreSQL: one round trip each.

A publish, a read and an acknowledgement are each one statement (several
rows, several streams) instead of a statement per stream and step inside
``BEGIN`` ... ``COMMIT``: on a busy worker every round trip is also a wait
for the GIL, and those waits made the database broker's hand-offs several
times slower than Redis's at p99.

- :data:`PUBLISH` allocates the sequence numbers of every stream of the
  batch (the streams' rows locked in name order, held until the commit: seq
  order stays commit order) and inserts the entries; autocommit, durable.
- :data:`TAKE` locks the group's rows of the streams that have news (in
  stream order), picks up to ``count`` new entries per stream, records them
  pending and moves the cursors; it runs with ``synchronous_commit = off``
  (:func:`run_relaxed`: ``BEGIN``, ``SET LOCAL``, the statements and
  ``COMMIT`` pipelined), like the other deliveries. A read that finds
  nothing locks nothing and writes nothing.
- :data:`ACK` deletes the pending entries of several streams at once,
  relaxed as well.

Arrays go in binary (``%(name)b``): psycopg writes a text-format array
element by element, escaping every quote of the JSON payloads (~50 µs an
element, more than the rest of a message's publish), a binary one in ~1 µs.

SQLite keeps the portable statements of :mod:`.broker_store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

__all__ = ["ALLOCATE", "PUBLISH", "TAKE", "ACK", "NEW_GROUPS", "Layout", "layout", "run_relaxed"]

#: @P@ is the (validated) table prefix; parameters in psycopg's style
#: the head of a publish: allocates ``%(counts)s`` sequence numbers on each of ``%(streams)s``
#: (a CTE ``alloc(stream, last_seq)``: the last number each stream got)
ALLOCATE = (
    "WITH alloc AS ("
    " INSERT INTO @P@_streams AS s (stream, last_seq)"
    " SELECT * FROM unnest(%(streams)b::text[], %(counts)b::bigint[])"
    " ON CONFLICT (stream) DO UPDATE SET last_seq = s.last_seq + excluded.last_seq"
    " RETURNING s.stream, s.last_seq"
)
PUBLISH = (
    ALLOCATE +  # noqa: S608 - module constants only; values are bound parameters
    "), added AS ("
    " INSERT INTO @P@_entries (stream, seq, payload)"
    " SELECT e.stream, a.last_seq - e.back, e.payload"
    " FROM unnest(%(entry_streams)b::text[], %(backs)b::bigint[], %(payloads)b::text[])"
    " AS e(stream, back, payload) JOIN alloc a ON a.stream = e.stream"
    ") SELECT stream, last_seq FROM alloc"
)
TAKE = (
    "WITH g AS ("
    " SELECT stream, last_delivered FROM @P@_groups"
    " WHERE grp = %(grp)s AND stream = ANY(%(streams)b::text[])"
    " AND EXISTS (SELECT 1 FROM @P@_entries e"
    " WHERE e.stream = @P@_groups.stream AND e.seq > @P@_groups.last_delivered)"
    " ORDER BY stream FOR UPDATE"
    "), picked AS ("
    " SELECT e.stream, e.seq, e.payload FROM g CROSS JOIN LATERAL ("
    " SELECT stream, seq, payload FROM @P@_entries"
    " WHERE stream = g.stream AND seq > g.last_delivered ORDER BY seq LIMIT %(count)s) e"
    "), added AS ("
    " INSERT INTO @P@_pending (stream, grp, seq, consumer, delivered_at, deliveries)"
    " SELECT stream, %(grp)s, seq, %(consumer)s, %(at)s, 1 FROM picked"
    "), moved AS ("
    " UPDATE @P@_groups u SET last_delivered = m.last"
    " FROM (SELECT stream, max(seq) AS last FROM picked GROUP BY stream) m"
    " WHERE u.grp = %(grp)s AND u.stream = m.stream"
    ") SELECT stream, seq, payload FROM picked ORDER BY stream, seq"
)
NEW_GROUPS = (
    "INSERT INTO @P@_groups (stream, grp, last_delivered)"
    " SELECT s, %(grp)s, 0 FROM unnest(%(streams)b::text[]) AS s"
    " ON CONFLICT (stream, grp) DO NOTHING"
)
ACK = (
    "DELETE FROM @P@_pending p USING unnest(%(streams)b::text[], %(seqs)b::bigint[]) AS a(stream, seq)"
    " WHERE p.grp = %(grp)s AND p.stream = a.stream AND p.seq = a.seq"
)


class Layout(NamedTuple):
    """A batch of entries laid out for :data:`PUBLISH`: the streams in name order (locked in
    that order: two publishers never lock them crosswise), how many entries each gets, and per
    entry — grouped by stream, in batch order within one — its stream, how far below the
    stream's new ``last_seq`` its seq is, and its index in the batch."""

    streams: list[str]
    counts: list[int]
    entry_streams: list[str]
    backs: list[int]
    indexes: list[int]


def layout(streams: Sequence[str]) -> Layout:
    """Lay out a batch whose entry ``i`` goes to ``streams[i]`` (see :class:`Layout`)."""
    by_stream: dict[str, list[int]] = {}
    for index, stream in enumerate(streams):
        by_stream.setdefault(stream, []).append(index)
    names = sorted(by_stream)
    out = Layout(names, [len(by_stream[name]) for name in names], [], [], [])
    for name, n in zip(names, out.counts, strict=True):
        for offset, index in enumerate(by_stream[name]):
            out.entry_streams.append(name)
            out.backs.append(n - 1 - offset)  # seq = the stream's new last_seq - back
            out.indexes.append(index)
    return out


def run_relaxed(connection: Any, statements: Sequence[tuple[str, dict[str, Any]]]) -> Any:
    """Run ``statements`` in one transaction whose commit does not wait for the WAL flush.

    ``BEGIN``, ``SET LOCAL synchronous_commit = off``, the statements and
    ``COMMIT`` go in one round trip (psycopg's pipeline mode); the connection
    must be idle in autocommit. Returns the last statement's cursor (its rows
    are in). A failure leaves the connection in an aborted transaction: the
    pool drops it when it comes back.
    """
    cursor = connection.cursor()
    *first, (last_sql, last_params) = statements
    with connection.pipeline():
        connection.execute("BEGIN")
        connection.execute("SET LOCAL synchronous_commit = off")
        for sql, params in first:
            connection.execute(sql, params)
        cursor.execute(last_sql, last_params)
        connection.execute("COMMIT")
    return cursor
