"""Nothing acknowledged is lost when the writing process is killed (-9), on SQLite's
default settings (WAL, synchronous = NORMAL) and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from archipel import BaseAggregate, Domain
from archipel.fields import String

ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import sys
    from archipel import BaseAggregate, BaseEvent, Domain
    from archipel.fields import Identifier, String

    provider, uri = sys.argv[1], sys.argv[2]
    domain = Domain(name="Crash", config={
        "databases": {"default": {"provider": provider, "database_uri": uri}},
        "event_store": {"provider": provider},
    })

    @domain.aggregate
    class Note(BaseAggregate):
        text = String()

    @domain.event(part_of=Note)
    class Noted(BaseEvent):
        note_id = Identifier()

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        repo = domain.repository_for(Note)
        number = 0
        while True:
            note = Note(id=f"n{number}", text="x")
            note.raise_(Noted(note_id=note.id))
            repo.add(note)
            print(note.id, flush=True)  # acknowledged: the commit returned
            number += 1
    """
)


def kill_after_acknowledgements(provider: str, uri: str, count: int) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, provider, uri], stdout=subprocess.PIPE, text=True, env=env
    )
    acknowledged: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while len(acknowledged) < count and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acknowledged.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(acknowledged) >= count, "the writer did not get going"
    return acknowledged


def stored(provider: str, uri: str) -> tuple[set[str], int]:
    domain = Domain(
        name="Crash",
        config={
            "databases": {"default": {"provider": provider, "database_uri": uri}},
            "event_store": {"provider": provider},
        },
    )

    @domain.aggregate
    class Note(BaseAggregate):
        text = String()

    domain.init(traverse=False)
    try:
        with domain.domain_context():
            notes = {n.id for n in domain.repository_for(Note).query.limit(None).all()}
            events = len(domain.event_store.read_all(limit=100_000))
    finally:
        domain.shutdown()
    return notes, events


def test_sqlite_keeps_every_acknowledged_commit_across_a_kill(tmp_path):
    uri = f"sqlite:///{tmp_path / 'crash.db'}"
    acknowledged = kill_after_acknowledgements("sqlite", uri, 200)
    notes, events = stored("sqlite", uri)
    assert set(acknowledged) <= notes
    assert events >= len(acknowledged)


@pytest.mark.postgres
def test_postgresql_keeps_every_acknowledged_commit_across_a_kill(postgres_db_url):
    acknowledged = kill_after_acknowledgements("postgresql", postgres_db_url, 200)
    notes, events = stored("postgresql", postgres_db_url)
    assert set(acknowledged) <= notes
    assert events >= len(acknowledged)
