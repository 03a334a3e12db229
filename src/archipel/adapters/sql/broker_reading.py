"""Consuming the database broker's streams with consumer groups.

A read locks the group's row (``FOR UPDATE`` on PostgreSQL; SQLite
serialises writers), moves the cursor and records the pending entries in
one relaxed transaction, of the streams that have something new only (on
SQLite one indexed probe finds them first; on PostgreSQL the whole read is
one statement, one round trip: :mod:`.broker_postgres`). A blocking read waits for a publish
(:mod:`archipel.adapters.sql.wakeup`: rung in this process, pushed with
``NOTIFY`` from others on PostgreSQL), or looks every ``_POLL_SECONDS`` on
SQLite, whose other processes cannot push.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from archipel.adapters.sql.broker_postgres import run_relaxed
from archipel.adapters.sql.broker_store import (
    _ACK_CHUNK,
    _ACK_MANY,
    _GROUPS_RECHECK_SECONDS,
    _POLL_SECONDS,
    _PROBE,
    BrokerStore,
    _seq,
)
from archipel.adapters.sql.engine import loads
from archipel.adapters.sql.wakeup import (
    BROKER,
    PUSHED_FALLBACK_SECONDS,
    bell,
    fallback_seconds,
    signals_for,
)
from archipel.port.broker import Entry

__all__ = ["BrokerGroupReader"]


class BrokerGroupReader(BrokerStore):
    """The consumer-group side of :class:`~archipel.adapters.sql.broker.DatabaseBroker`."""

    def has_group(self, stream: str, group: str) -> bool:
        """Whether ``group`` exists on ``stream`` (a new subscription catches up when not)."""
        params = {"stream": stream, "grp": group}
        return self._read_only(lambda cur: cur.execute(self._sql["group"], params).fetchone(), None) is not None

    def ensure_group(self, stream: str, group: str) -> None:
        self._transaction(
            lambda cur: cur.execute(self._sql["new_group"], {"stream": stream, "grp": group})
        )
        self._groups_known.add((stream, group))

    def read(
        self,
        group: str,
        consumer: str,
        streams: Sequence[str],
        count: int = 100,
        block_ms: int = 0,
    ) -> list[Entry]:
        if not streams:
            return []
        deadline = time.monotonic() + block_ms / 1000.0
        doorbell = bell(BROKER)
        known = self._groups_known
        if time.monotonic() > self._groups_checked + _GROUPS_RECHECK_SECONDS:
            # another process may have dropped the tables meanwhile: take once more in a while
            known.clear()
            self._groups_checked = time.monotonic()
        # a group is created by its first read (or ensure_group); the probe cannot see it before
        first = any((stream, group) not in known for stream in streams)
        quiet = self._quiet
        looked = self._looked
        keys = [(group, stream) for stream in streams]
        names = list(dict.fromkeys(streams))  # the doorbell's keys: a ring for other streams is not ours

        def still_quiet() -> bool:
            # each stream's last look found nothing and no publish to it rang since (each rings,
            # with its streams, here or by NOTIFY; a broad ring counts for every stream)
            return all(key in quiet and not doorbell.rung(quiet[key], (key[1],)) for key in keys)

        skip = not first and self._pushed() and still_quiet()
        while True:
            # read before looking: a publish after the look rings a later generation
            seen = doorbell.generation
            if skip:
                # the last look at these streams found nothing and no publish to them rang
                # since: looking again would find nothing either
                got = []
            elif self._pg is not None:
                # PostgreSQL: one round trip, which locks and takes only the streams with news
                got = self._take_pg(group, consumer, streams, count, create=first)
            else:
                # the probe is read-only; taking writes (cursor, pending entries): only when
                # needed, and only of the streams that have something new
                ready = list(streams) if first else self._with_news(group, streams)
                got = self._take(group, consumer, ready, count, create=first) if ready else []
            if not skip:
                looked_at = time.monotonic()
                for key in keys:
                    looked[key] = looked_at
            if first or got:
                known.update((stream, group) for stream in streams)
            if got:
                # a stream that gave fewer than ``count`` was drained as of this look: as quiet
                # as after an empty look (what commits later rings a later generation)
                taken: dict[str, int] = {}
                for entry in got:
                    taken[entry.stream] = taken.get(entry.stream, 0) + 1
                for key in keys:
                    if taken.get(key[1], 0) < count:
                        quiet[key] = seen
                    else:
                        quiet.pop(key, None)
                return got
            if not skip:
                for key in keys:
                    quiet[key] = seen
            first = False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            # woken by a publish of this process or, on PostgreSQL, a NOTIFY from another;
            # else look again after the poll interval (SQLite shared by several processes)
            poll = fallback_seconds(self.engine, _POLL_SECONDS)
            rung = doorbell.wait(seen, min(poll, remaining), names)
            # not rung while pushes are sure: the look at the end of the wait only if these
            # streams were not looked at for PUSHED_FALLBACK_SECONDS (what a lost notification
            # costs), not at every blocking read's end: that was a transaction per worker and
            # blocking_timeout_ms, idle or not
            now = time.monotonic()
            skip = (
                not rung
                and self._pushed()
                and still_quiet()
                and all(now - looked.get(key, -PUSHED_FALLBACK_SECONDS) < PUSHED_FALLBACK_SECONDS
                        for key in keys)
            )

    def _pushed(self) -> bool:
        """Whether every publish to these streams rings this process's bell: an in-memory
        SQLite database (this process alone writes it), or PostgreSQL while the listener
        is up. A SQLite file may be written by other processes, which cannot push."""
        if not self.shared_between_processes:
            return True
        signals = signals_for(self.engine)
        return signals is not None and signals.listening

    def _with_news(self, group: str, streams: Sequence[str]) -> list[str]:
        """One cheap indexed query: which of ``streams`` have an entry ``group`` has not read?"""
        sql = self._probes.get(len(streams))
        if sql is None:
            names = ", ".join(f":s{i}" for i in range(len(streams)))
            sql = self._probes[len(streams)] = self._dialect(
                _PROBE.replace("@P@", self.prefix).replace("@NAMES@", names)
            )
        params: dict[str, Any] = {f"s{i}": name for i, name in enumerate(streams)}
        params["grp"] = group
        nothing: list[Any] = []
        found = {row[0] for row in self._read_only(lambda cur: cur.execute(sql, params).fetchall(), nothing)}
        return [stream for stream in streams if stream in found]

    def _take(self, group: str, consumer: str, streams: Sequence[str], count: int, create: bool) -> list[Entry]:
        """Deliver up to ``count`` new entries of each of ``streams``; ``create``: their groups first."""
        sql = self._sql
        now = time.time()

        def work(cursor: Any) -> list[Entry]:
            out: list[Entry] = []
            for stream in dict.fromkeys(streams):
                key = {"stream": stream, "grp": group}
                if create:
                    cursor.execute(sql["new_group"], key)
                cursor.execute(sql["lock_group"], key)
                locked = cursor.fetchone()
                if locked is None:
                    continue  # the group vanished (tables dropped meanwhile): created next time
                after = int(locked[0])
                cursor.execute(sql["unread"], {"stream": stream, "after": after, "count": count})
                rows = cursor.fetchall()
                if not rows:
                    continue
                cursor.executemany(
                    sql["add_pending"],
                    [{**key, "seq": int(seq), "consumer": consumer, "at": now} for seq, _ in rows],
                )
                cursor.execute(sql["move_cursor"], {**key, "last": int(rows[-1][0])})
                out += [Entry(stream, f"{int(seq)}-0", loads(payload)) for seq, payload in rows]
            return out

        # no blind retry: had the COMMIT gone through before the connection dropped, a second
        # read would skip what the first delivered; the consumer calls own_pending instead
        return self._transaction(work, retry=False, relaxed=True)

    def _take_pg(
        self, group: str, consumer: str, streams: Sequence[str], count: int, create: bool
    ) -> list[Entry]:
        """PostgreSQL: :meth:`_take` in one statement (``create``: the groups first), relaxed."""
        assert self._pg is not None
        names = list(dict.fromkeys(streams))
        key = {"grp": group, "streams": names}
        statements: list[tuple[str, dict[str, Any]]] = []
        if create:
            statements.append((self._pg["new_groups"], key))
        params = {**key, "consumer": consumer, "count": count, "at": time.time()}
        statements.append((self._pg["take"], params))
        self._setup()
        # no blind retry: see _take
        rows = self.engine.run(lambda conn: run_relaxed(conn, statements).fetchall(), retry=False)
        return [Entry(str(stream), f"{int(seq)}-0", loads(payload)) for stream, seq, payload in rows]

    def ack(self, group: str, ids_by_stream: Mapping[str, Sequence[str]]) -> int:
        chunks: list[tuple[str, dict[str, Any]]] = []
        for stream, ids in ids_by_stream.items():
            seqs = sorted({_seq(entry_id) for entry_id in ids})
            for start in range(0, len(seqs), _ACK_CHUNK):
                part = seqs[start : start + _ACK_CHUNK]
                params: dict[str, Any] = {"stream": stream, "grp": group}
                params.update({f"q{i}": seq for i, seq in enumerate(part)})
                chunks.append((self._ack_sql(len(part)), params))
        if not chunks:
            return 0
        if self._pg is not None:
            return self._ack_pg(group, ids_by_stream)

        def work(cursor: Any) -> int:
            done = 0
            for sql, params in chunks:  # one statement per chunk: its rowcount is portable
                cursor.execute(sql, params)
                done += max(0, int(cursor.rowcount))
            return done

        # an acknowledgement lost in a crash leaves the entries pending: run again, dropped
        return self._transaction(work, relaxed=True)

    def _ack_pg(self, group: str, ids_by_stream: Mapping[str, Sequence[str]]) -> int:
        """PostgreSQL: every stream's acknowledgements in one relaxed statement, one round trip."""
        assert self._pg is not None
        pairs = sorted({(stream, _seq(i)) for stream, ids in ids_by_stream.items() for i in ids})
        params: dict[str, Any] = {
            "grp": group, "streams": [p[0] for p in pairs], "seqs": [p[1] for p in pairs]
        }
        sql = self._pg["ack"]
        self._setup()
        # an acknowledgement lost in a crash leaves the entries pending: run again, dropped
        return int(self.engine.run(lambda conn: max(0, int(run_relaxed(conn, [(sql, params)]).rowcount))))

    def _ack_sql(self, count: int) -> str:
        sql = self._acks.get(count)
        if sql is None:
            names = ", ".join(f":q{i}" for i in range(count))
            # placeholders only, and the validated table prefix: no value is spliced in
            sql = self._acks[count] = self._dialect(
                _ACK_MANY.replace("@P@", self.prefix).replace("@SEQS@", names)
            )
        return sql

    def claim_stale(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int = 1000
    ) -> list[Entry]:
        sql = self._sql
        now = time.time()
        key = {"stream": stream, "grp": group}

        def work(cursor: Any) -> list[Entry]:
            cursor.execute(
                sql["stale"], {**key, "cutoff": now - min_idle_ms / 1000.0, "count": count}
            )
            out: list[Entry] = []
            for (seq,) in cursor.fetchall():
                cursor.execute(sql["entry"], {"stream": stream, "seq": int(seq)})
                found = cursor.fetchone()
                if found is None:
                    cursor.execute(sql["ack"], {**key, "seq": int(seq)})  # entry gone
                    continue
                cursor.execute(
                    sql["take"], {**key, "seq": int(seq), "consumer": consumer, "at": now}
                )
                out.append(Entry(stream, f"{int(seq)}-0", loads(found[0])))
            return out

        return self._transaction(work)

    def own_pending(
        self, group: str, consumer: str, streams: Sequence[str], count: int = 1000
    ) -> list[Entry]:
        def work(cursor: Any) -> list[Entry]:
            out: list[Entry] = []
            for stream in dict.fromkeys(streams):
                params = {"stream": stream, "grp": group, "consumer": consumer, "count": count}
                rows = cursor.execute(self._sql["own"], params).fetchall()
                out += [Entry(stream, f"{int(seq)}-0", loads(payload)) for seq, payload in rows]
            return out

        return self._read_only(work, [])

    def delivery_counts(self, stream: str, group: str, ids: Sequence[str]) -> dict[str, int]:
        if not ids:
            return {}
        wanted = {_seq(i): i for i in ids}
        params = {"stream": stream, "grp": group, "low": min(wanted), "high": max(wanted)}
        nothing: list[Any] = []
        rows = self._read_only(lambda cur: cur.execute(self._sql["deliveries"], params).fetchall(), nothing)
        return {wanted[int(seq)]: int(n) for seq, n in rows if int(seq) in wanted}
