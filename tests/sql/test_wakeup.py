"""Push, not poll, across processes on PostgreSQL: ``NOTIFY`` after commits, ``LISTEN`` to wake.

Another process is played by a plain psycopg connection: it notifies as a
committing archipel process does, and listens as a waiting one does.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from archipel.adapters.sql.engine import SqlEngine
from archipel.adapters.sql.wakeup import CHANNELS, fallback_seconds, signals_for
from archipel.utils.doorbell import BROKER, OUTBOX, bell

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(postgres_db_url):
    engine = SqlEngine({"database_uri": postgres_db_url, "provider": "postgresql"})
    yield engine
    engine.dispose()


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def listening(engine: SqlEngine) -> bool:
    signals = signals_for(engine)
    assert signals is not None
    deadline = time.monotonic() + 30
    while not signals.listen():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("signal", [OUTBOX, BROKER])
def test_a_notification_from_another_process_rings_the_bell(engine, postgres_db_url, signal):
    assert listening(engine)
    seen = bell(signal).generation
    with psycopg.connect(libpq(postgres_db_url), autocommit=True) as other:
        other.execute("SELECT pg_notify(%s, '')", (CHANNELS[signal],))
    assert bell(signal).wait(seen, timeout=30.0)


def test_committing_outbox_rows_notifies_other_processes(engine, postgres_db_url):
    from archipel.adapters.sql.database import SqlDatabase

    with psycopg.connect(libpq(postgres_db_url), autocommit=True) as other:
        other.execute(f'LISTEN "{CHANNELS[OUTBOX]}"')
        database = SqlDatabase("default", {"database_uri": postgres_db_url, "provider": "postgresql"})
        try:
            database.setup([])
            tx = database.begin()
            tx.add_outbox(
                [{"message_id": "m1", "stream": "shop::order-1", "message": {"data": {}}}]
            )
            tx.commit()
            notes = list(other.notifies(timeout=30.0, stop_after=1))
        finally:
            database.close()
    assert [n.channel for n in notes] == [CHANNELS[OUTBOX]]


def test_waiters_sleep_long_only_while_pushes_arrive(engine, tmp_path):
    assert listening(engine)
    assert fallback_seconds(engine, 0.05) >= 1.0  # pushes wake it sooner
    sqlite = SqlEngine({"database_uri": f"sqlite:///{tmp_path / 'a.db'}", "provider": "sqlite"})
    try:
        assert fallback_seconds(sqlite, 0.05) == 0.05  # other processes cannot push: poll
    finally:
        sqlite.dispose()
