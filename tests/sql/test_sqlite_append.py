"""Appends on SQLite settle both positions before the ``INSERT`` (``sqlite_append.py``).

A command's commit sends ``BEGIN IMMEDIATE``, the aggregate's row, one
plain multi-row ``INSERT`` of the command and its events (no subquery, no
``RETURNING``) and ``COMMIT``; a ``SELECT max(position)`` only for a stream
whose next position is not known (not for a command's stream named after its
own id). These tests hold the statements, the positions under
concurrent writers in other processes, the partly-duplicated batch (the
rows read back by their rowid range) and a file written by the previous
statement form.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEvent, Domain, handle
from archipel.fields import Identifier, String

ROOT = Path(__file__).resolve().parents[2]


def build(path: Path, **database: Any) -> Domain:
    uri = f"sqlite:///{path}"
    domain = Domain(
        name="Append",
        config={
            "databases": {"default": {"provider": "sqlite", "database_uri": uri, **database}},
            "event_store": {"provider": "sqlite"},
            "command_processing": "sync",
            "event_processing": "sync",
        },
    )

    @domain.aggregate
    class Note(BaseAggregate):
        text = String(max_length=50)

    @domain.event(part_of=Note)
    class Noted(BaseEvent):
        note_id = Identifier()
        text = String(max_length=50)

    @domain.command(part_of=Note)
    class Write(BaseCommand):
        text = String(max_length=50)

    @domain.command_handler(part_of=Note)
    class Notes:
        @handle(Write)
        def write(self, command: Write) -> str:
            note = Note(text=command.text)
            note.raise_(Noted(note_id=note.id, text=note.text))
            domain.repository_for(Note).add(note)
            return str(note.id)

    domain.init(traverse=False)
    domain.Write = Write  # type: ignore[attr-defined]
    domain.Noted = Noted  # type: ignore[attr-defined]
    return domain


def test_a_command_sends_one_plain_insert_of_its_messages_and_no_lookup(tmp_path, caplog):
    """The command's stream is named after its own id (no identity field): position 0, not
    looked up; its event's position is the aggregate's."""
    domain = build(tmp_path / "app.db", echo=True)
    with domain.domain_context():
        domain.setup_database()
        domain.process(domain.Write(text="warm"))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="archipel.sql"):
            note_id = domain.process(domain.Write(text="hello"))
        sent = [r.getMessage().split("  ", 1)[0] for r in caplog.records if r.name == "archipel.sql"]
        stored = domain.event_store.read_all()
    domain.shutdown()
    assert [s.split(" ")[0] for s in sent] == ["BEGIN", "INSERT", "INSERT", "COMMIT"]
    events_insert = sent[2]
    assert events_insert.startswith("INSERT INTO archipel_events")
    assert events_insert.count("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)") == 2  # the command and its event
    assert "RETURNING" not in events_insert and "SELECT" not in events_insert
    # what the statements stored: gap-free global positions, the streams' positions
    assert [m["metadata"]["global_position"] for m in stored] == [1, 2, 3, 4]
    assert [m["metadata"]["kind"] for m in stored] == ["COMMAND", "EVENT"] * 2
    assert [m["metadata"]["position"] for m in stored] == [0, 0, 0, 0]
    assert stored[3]["metadata"]["stream"] == f"append::note-{note_id}"


WRITER = textwrap.dedent(
    """
    import os, sys, time
    from archipel import BaseAggregate, BaseEvent, Domain
    from archipel.fields import String

    domain = Domain(name="Append", config={
        "databases": {"default": {"provider": "sqlite", "database_uri": sys.argv[1]}},
        "event_store": {"provider": "sqlite"},
    })

    @domain.aggregate
    class Note(BaseAggregate):
        text = String()

    @domain.event(part_of=Note)
    class Noted(BaseEvent):
        text = String()

    domain.init(traverse=False)
    with domain.domain_context():
        store = domain.event_store
        store.read_stream("append::note-shared")  # connected
        open(sys.argv[4] + "." + sys.argv[3], "w").close()
        while not os.path.exists(sys.argv[4]):  # both start together
            time.sleep(0.001)
        for i in range(int(sys.argv[2])):
            event = Noted(text=sys.argv[3] + str(i))
            meta = event._metadata
            meta.id = f"{sys.argv[3]}-{i}"
            meta.type = "Append.Noted.v1"
            meta.stream = "append::note-shared"  # one stream for both writers, no position
            event2 = Noted(text="own")
            event2._metadata.id = f"{sys.argv[3]}-own-{i}"
            event2._metadata.type = "Append.Noted.v1"
            event2._metadata.stream = "append::note-" + sys.argv[3]
            store.append([event, event2])  # a transaction of its own: lookups, then the insert
    domain.shutdown()
    """
)


def test_concurrent_writers_in_two_processes_get_gap_free_positions(tmp_path):
    path = tmp_path / "app.db"
    domain = build(path)
    with domain.domain_context():
        domain.setup_database()
    domain.shutdown()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    count = 1000
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, f"sqlite:///{path}", str(count), name, str(go)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    while not all(Path(f"{go}.{name}").exists() for name in ("a", "b")):
        # a writer that died before it was ready fails the test with its error (a hang is
        # pytest-timeout's to stop)
        for writer in writers:
            if writer.poll() is not None:
                raise AssertionError(f"a writer exited before starting: {writer.communicate()[1]}")
        time.sleep(0.01)
    go.touch()
    for writer in writers:
        _, errors = writer.communicate(timeout=120)
        assert writer.returncode == 0, errors  # no position was taken twice
    with sqlite3.connect(path) as conn:
        shared = conn.execute(
            "SELECT position, message_id FROM archipel_events WHERE stream = ? ORDER BY position",
            ("append::note-shared",),
        ).fetchall()
        log = [row[0] for row in conn.execute("SELECT global_position FROM archipel_events ORDER BY 1")]
    assert [position for position, _ in shared] == list(range(2 * count))
    for name in ("a", "b"):  # each writer's messages in its own order
        mine = [int(m.split("-")[1]) for _, m in shared if m.startswith(f"{name}-")]
        assert mine == list(range(count))
    assert log == list(range(1, 4 * count + 1))


def test_a_batch_with_stored_and_twin_ids_gets_the_positions_of_its_new_rows(tmp_path):
    domain = build(tmp_path / "app.db")
    with domain.domain_context():
        domain.setup_database()
        store = domain.event_store

        def noted(stream: str, position: int | None, ident: str) -> Any:
            event = domain.Noted(text=ident)
            meta = event._metadata
            meta.id, meta.type, meta.stream, meta.position = ident, "Append.Noted.v1", stream, position
            return event

        store.append([noted("s-1", 0, "a")])
        batch = [noted("s-1", 0, "a"), noted("s-1", 1, "b"), noted("s-2", None, "c"), noted("s-2", None, "c")]
        assert store.append(batch) == 2  # a is stored already; the twin of c is one message
        read = {m["metadata"]["id"]: m["metadata"] for m in store.read_all()}
        # only the new rows got positions, those the database holds
        assert batch[0]._metadata.global_position is None and batch[3]._metadata.global_position is None
        for sent in (batch[1], batch[2]):
            meta = sent._metadata
            assert (read[meta.id]["global_position"], read[meta.id]["position"]) == (
                meta.global_position,
                meta.position,
            )
        assert [read[i]["global_position"] for i in ("a", "b", "c")] == [1, 2, 3]
        assert store.append(batch) == 0
    domain.shutdown()


#: the events table and the INSERT of archipel before sqlite_append.py (session 10), verbatim
OLD_EVENTS_DDL = """CREATE TABLE archipel_events (
    global_position INTEGER NOT NULL, message_id VARCHAR(255) NOT NULL,
    stream VARCHAR(255) NOT NULL, category VARCHAR(255) NOT NULL, type VARCHAR(255) NOT NULL,
    kind VARCHAR(16) NOT NULL, position INTEGER NOT NULL, correlation_id VARCHAR(255),
    causation_id VARCHAR(255), time TEXT, metadata TEXT NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (global_position),
    CONSTRAINT archipel_events_message_id_key UNIQUE (message_id),
    CONSTRAINT archipel_events_stream_position_key UNIQUE (stream, position))"""
OLD_INSERT = (
    "INSERT INTO archipel_events (message_id, stream, category, type, kind, position, "
    "correlation_id, causation_id, time, metadata, data) VALUES (?, ?, ?, ?, ?, coalesce(?, "
    "(SELECT coalesce(max(e.position), -1) AS coalesce_1 FROM archipel_events AS e "
    "WHERE e.stream = ?) + 1 + ?), ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING "
    "RETURNING message_id, global_position, position"
)


def test_a_file_written_by_the_previous_statements_keeps_working(tmp_path):
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(OLD_EVENTS_DDL)
        conn.execute("CREATE INDEX archipel_events_correlation_idx ON archipel_events (correlation_id)")
        conn.execute(
            "CREATE INDEX archipel_events_category_idx ON archipel_events (category, global_position)"
        )
        for i, stream in enumerate(["append::note-old", "append::note-old", "append::note:command-x"]):
            metadata = (
                f'{{"id":"old-{i}","type":"Append.Noted.v1","kind":"EVENT","stream":"{stream}",'
                '"time":"2026-01-01T00:00:00+00:00","version":1,"position":null,'
                '"global_position":null,"correlation_id":null,"causation_id":null,"headers":{}}'
            )
            category = stream.split("-", 1)[0]
            row = (f"old-{i}", stream, category, "Append.Noted.v1", "EVENT", None, stream, 0)
            conn.execute(
                OLD_INSERT,
                (*row, None, None, "2026-01-01T00:00:00+00:00", metadata, '{"text":"old"}'),
            ).fetchall()
    domain = build(path)
    with domain.domain_context():
        domain.setup_database()  # the tables are there: nothing to change
        store = domain.event_store
        assert [m["metadata"]["position"] for m in store.read_stream("append::note-old")] == [0, 1]
        later = domain.Noted(text="new")
        meta = later._metadata
        meta.id, meta.type, meta.stream = "new-1", "Append.Noted.v1", "append::note-old"
        assert store.append([later]) == 1
        assert (meta.position, meta.global_position) == (2, 4)
        domain.process(domain.Write(text="after"))
        log = store.read_all()
    domain.shutdown()
    assert [m["metadata"]["global_position"] for m in log] == [1, 2, 3, 4, 5, 6]
    assert [m["data"]["text"] for m in log[:4]] == ["old", "old", "old", "new"]
    assert [m["metadata"]["id"] for m in log[:3]] == ["old-0", "old-1", "old-2"]


@pytest.mark.parametrize("rows", [1, 3])
def test_more_rows_than_a_chunk_are_split_and_numbered_in_order(tmp_path, monkeypatch, rows):
    import archipel.adapters.sql.event_insert as event_insert

    monkeypatch.setattr(event_insert, "CHUNK", 2)
    domain = build(tmp_path / "app.db")
    with domain.domain_context():
        domain.setup_database()
        store = domain.event_store
        batch = []
        for i in range(rows * 2 + 1):
            event = domain.Noted(text=str(i))
            meta = event._metadata
            meta.id, meta.type, meta.stream = f"m{i}", "Append.Noted.v1", f"append::note-{i % 2}"
            batch.append(event)
        assert store.append(batch) == len(batch)
        assert [m._metadata.global_position for m in batch] == list(range(1, len(batch) + 1))
        assert [m._metadata.position for m in batch] == [i // 2 for i in range(len(batch))]
        read = store.read_all()
        assert [m["metadata"]["id"] for m in read] == [f"m{i}" for i in range(len(batch))]
    domain.shutdown()
