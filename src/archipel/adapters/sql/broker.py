"""The embedded durable broker: streams with consumer groups in the SQL database.

``[brokers.default] provider = "database"`` stores streams in the domain's
SQLite or PostgreSQL database (``database = "<name>"``, default
``"default"``; or its own ``database_uri``), so the async pipeline — outbox,
relay, subscriptions — runs with no server besides the database. Same
contract as Redis Streams (:mod:`archipel.port.broker`).

Tables: ``archipel_broker_streams`` (one row per stream: the last sequence
number), ``archipel_broker_entries`` (stream, seq, payload),
``archipel_broker_groups`` (each group's last delivered seq) and
``archipel_broker_pending`` (read, not yet acknowledged entries and who
holds them).

Sequence numbers are allocated by updating the stream's row, which holds
its lock until the publishing transaction commits: within a stream, seq
order is commit order, so a reader can never skip an entry that commits
late (the problem PostgreSQL sequences have). Reads lock the group's row
(``FOR UPDATE`` on PostgreSQL; SQLite serialises writers), move the cursor
and record pending entries in one transaction. A blocking read waits for a
publish (:mod:`archipel.adapters.sql.wakeup`: rung in this process, pushed
with ``NOTIFY`` from others on PostgreSQL) and looks cheaply (one indexed
``EXISTS``) when woken, or every ``_POLL_SECONDS`` on SQLite, whose other
processes cannot push. On PostgreSQL a publish, a read and an
acknowledgement are one round trip each (:mod:`.broker_postgres`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from archipel.adapters.payload import check_payload
from archipel.adapters.sql.broker_housekeeping import BrokerHousekeeping
from archipel.adapters.sql.broker_postgres import layout
from archipel.adapters.sql.broker_reading import BrokerGroupReader
from archipel.adapters.sql.engine import cursor_of, dumps
from archipel.adapters.sql.wakeup import BROKER, announce
from archipel.port.broker import PublishCallback

__all__ = ["DatabaseBroker"]


class DatabaseBroker(BrokerGroupReader, BrokerHousekeeping):
    """Streams in a SQL database; thread-safe (pooled connections).

    Its parts: tables, statements and transactions
    (:mod:`~archipel.adapters.sql.broker_store`), consumer groups
    (:mod:`~archipel.adapters.sql.broker_reading`), status and trimming
    (:mod:`~archipel.adapters.sql.broker_housekeeping`); publishing is here.
    """

    delivers_inline = False

    def on_publish(self, callback: PublishCallback | None) -> None:
        """Ignored: entries are delivered by ``archipel server``, in any process."""

    def publish(self, stream: str, payload: dict[str, Any]) -> str:
        check_payload(payload)
        return self.publish_many([(stream, payload)])[0]

    def publish_many(self, entries: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        if not entries:
            return []
        by_stream: dict[str, list[int]] = {}
        encoded = []
        for index, (stream, payload) in enumerate(entries):
            if not isinstance(payload, dict):
                raise TypeError(f"broker payloads are dicts, got {type(payload).__name__}")
            by_stream.setdefault(stream, []).append(index)
            encoded.append(dumps(payload))
        if self._pg is not None:
            ids = self._publish_pg(by_stream, encoded)
            announce(self.engine, BROKER, by_stream)  # push: wake these streams' consumers, here and elsewhere
            return ids
        sql = self._sql

        def work(cursor: Any) -> list[str]:
            ids = [""] * len(entries)
            rows = []
            # streams in a fixed order: two publishers never lock them crosswise
            for stream in sorted(by_stream):
                positions = by_stream[stream]
                cursor.execute(sql["allocate"], {"stream": stream, "n": len(positions)})
                last = int(cursor.fetchone()[0])
                first = last - len(positions) + 1
                for offset, index in enumerate(positions):
                    seq = first + offset
                    ids[index] = f"{seq}-0"
                    rows.append({"stream": stream, "seq": seq, "payload": encoded[index]})
            cursor.executemany(sql["insert_entry"], rows)
            return ids

        ids = self._transaction(work)
        announce(self.engine, BROKER, by_stream)  # push: wake these streams' consumers, here and elsewhere
        return ids

    def _publish_pg(self, by_stream: dict[str, list[int]], encoded: list[str]) -> list[str]:
        """PostgreSQL: every stream's numbers and entries in one statement, one round trip."""
        assert self._pg is not None
        streams = [""] * len(encoded)
        for name, positions in by_stream.items():
            for index in positions:
                streams[index] = name
        plan = layout(streams)
        params = {
            "streams": plan.streams, "counts": plan.counts, "entry_streams": plan.entry_streams,
            "backs": plan.backs, "payloads": [encoded[index] for index in plan.indexes],
        }
        sql = self._pg["publish"]
        self._setup()
        # one statement in autocommit: its own durable transaction, never half done. Retried
        # once on a dead pooled connection, as before: a copy is harmless (the relay publishes
        # again after a crash anyway, and consumers drop copies by message id)
        rows = self.engine.run(lambda conn: cursor_of(conn).execute(sql, params).fetchall())
        last = {str(stream): int(seq) for stream, seq in rows}
        ids = [""] * len(encoded)
        for stream, back, index in zip(plan.entry_streams, plan.backs, plan.indexes, strict=True):
            ids[index] = f"{last[stream] - back}-0"
        return ids
