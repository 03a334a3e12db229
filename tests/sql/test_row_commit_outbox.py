"""A command's aggregate, events and their outbox rows (``enable_outbox``) committed without a
transaction object: ``commit_row`` with outbox rows (``pg_commit`` on PostgreSQL, one statement;
``sqlite_commit`` on SQLite; the memory database through its transaction).

What the one-row commit must keep from the transaction it bypasses: the same outcomes, and
the same outbox rows — the message text a relay publishes and a reconcile compares, byte for
byte (ids and times aside, which differ between runs), its shard, type, priority and
correlation — for any sequence of commands (property-tested against the transaction's path on
twin databases); no row for a command that failed; and the same wake-ups: this process's
relay of the rows' relay shard (and no other), and other processes through ``NOTIFY`` with
the rows' shard values.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import given

from archipel import Domain
from archipel.adapters.sql.wakeup import CHANNELS, payload_keys, signals_for
from archipel.port.outbox import shard_key
from archipel.utils.doorbell import OUTBOX, bell, relay_key, relay_waiting
from tests._waiting import wait_until
from tests.sql.test_broker_wakeup import libpq
from tests.sql.test_row_commit import SETTINGS, _outcome, _run_command, build, commands, uris

__all__ = ["uris"]  # (the fixture, shared with test_row_commit)

_TIME = re.compile(r'"time": ?"[^"]*"')


def _outbox_rows(domain: Any) -> list[tuple[Any, ...]]:
    """The outbox rows as stored (the message as its column's text), ids and times named
    by their order in the event store (the same in each run)."""
    engine = domain.event_store.engine
    text = "message::text" if engine.is_postgres else "message"
    rows = engine.run(
        lambda conn: conn.execute(
            f"SELECT message_id, stream, shard, type, priority, correlation_id, {text}, status, attempts"  # noqa: S608
            " FROM archipel_outbox ORDER BY id"
        ).fetchall()
    )
    labels = {m["metadata"]["id"]: f"<id {i}>" for i, m in enumerate(domain.event_store.read_all())}

    def named(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for ident, label in labels.items():
            value = value.replace(ident, label)
        return _TIME.sub('"time":"<time>"', value)

    return [tuple(named(value) for value in row) for row in rows]


@SETTINGS
@given(steps=commands)
def test_a_commands_outbox_rows_are_the_transactions_byte_for_byte(
    uris: tuple[str, ...], steps: list[tuple[str, int, str]]
) -> None:
    """Property: commands (new aggregates and their events, identities and stream positions
    taken, stale versions) with ``enable_outbox`` give the same outcomes and store the same
    outbox rows, message text included, with ``commit_row`` as through the transaction
    (prepared or not); each stored event of a command has its row, a failed one none."""
    results = []
    for uri, path in zip(uris, ("direct", "transaction", "cursor"), strict=True):
        domain: Any = build(uri, path, outbox=True)
        with domain.domain_context():
            domain.setup_database()
            domain.truncate_database()
            outcomes = [_outcome(lambda: _run_command(domain, step)) for step in steps]  # noqa: B023 - called at once
            rows = _outbox_rows(domain)
            events = [
                f"<id {i}>" for i, m in enumerate(domain.event_store.read_all()) if m["metadata"]["kind"] == "EVENT"
            ]
            # every event a unit of work stored has its row (a ghost's, appended alone, none)
            ghosts = sum(1 for step, outcome in zip(steps, outcomes, strict=True) if step[0] == "ghost" and outcome[0] == "ok")
            assert len({row[0] for row in rows}) == len(rows) == len(events) - ghosts
            assert {row[0] for row in rows} <= set(events)
            results.append((outcomes, rows))
        domain.shutdown()
    assert results[0] == results[1] == results[2]


def _one_command(domain: Domain) -> tuple[str, int]:
    """Run one new account's command; its event's outbox row: ``(stream, shard)``."""
    ident = f"a-{uuid.uuid4().hex[:8]}"
    domain.process(domain.Open(account_id=ident, owner=ident))  # type: ignore[attr-defined]
    ((stream, shard),) = [
        (row[1], row[2]) for row in _outbox_rows(domain) if row[1].endswith(ident)
    ]
    return stream, shard


@pytest.mark.parametrize("provider", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_one_row_commit_wakes_the_relay_of_its_rows_shard_only(
    provider: str, tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    uri = f"sqlite:///{tmp_path / 'w.db'}" if provider == "sqlite" else request.getfixturevalue("postgres_db_url")
    domain: Any = build(uri, outbox=True)
    with domain.domain_context():
        domain.setup_database()
        domain.truncate_database()
        assert domain.providers.database("default").commit_row is not None  # the one-row commit
        doorbell = bell(OUTBOX)
        relay_waiting(4)  # a relay of 4 relay shards waits in this process
        try:
            seen = doorbell.generation
            stream, shard = _one_command(domain)
            assert shard == shard_key(stream)
            assert doorbell.rung(seen, [relay_key(shard % 4)])
            assert not doorbell.rung(seen, [relay_key(s) for s in range(4) if s != shard % 4])
        finally:
            relay_waiting(4, waiting=False)
    domain.shutdown()


@pytest.mark.postgres
def test_a_one_row_commit_notifies_other_processes_of_its_rows_shard(postgres_db_url: str) -> None:
    domain: Any = build(postgres_db_url, outbox=True)
    with domain.domain_context(), psycopg.connect(libpq(postgres_db_url), autocommit=True) as other:
        domain.setup_database()
        domain.truncate_database()
        other.execute(f'LISTEN "{CHANNELS[OUTBOX]}"')  # another process's listener
        _one_command(domain)  # (its notifier connection opens now: the next commits notify)
        signals = signals_for(domain.event_store.engine)
        assert signals is not None
        wait_until(lambda: signals._conn is not None, "the notifier's connection", 60.0)
        for _note in other.notifies(timeout=0.2):  # (the first commits': drained)
            pass
        stream, shard = _one_command(domain)
        heard: list[Any] = []
        for note in other.notifies(timeout=30.0):
            if note.payload.startswith(signals.token):
                heard.append(payload_keys(note.payload))
                break
        assert heard == [[str(shard)]]
    domain.drop_database()
    domain.shutdown()
