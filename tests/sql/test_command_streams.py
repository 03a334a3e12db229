"""Command streams on SQLite: a command in a stream named after its own id is position 0 without a look-up.

A command with no identity field is stored in ``<category>:command-<its id>``:
nothing can be there before it, so its append reads no stream head
(``sqlite_append.own_stream``). These tests hold what that must keep: commands
keyed by an identity field share a stream and still get the next positions;
an own-id command stored again stores nothing; and a stream named so that is
somehow not empty makes the append fail (never a wrong position).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseCommand, BaseEvent, Domain, handle
from archipel.errors import ExpectedVersionError
from archipel.fields import Identifier, String

SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def build(path: Path, **database: Any) -> Domain:
    domain = Domain(
        name="Streams",
        config={
            "databases": {"default": {"provider": "sqlite", "database_uri": f"sqlite:///{path}", **database}},
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
    class Write(BaseCommand):  # no identity field: its own stream
        text = String(max_length=50)

    @domain.command(part_of=Note)
    class Edit(BaseCommand):  # keyed by the note: one stream per note
        note_id = Identifier(identifier=True)
        text = String(max_length=50)

    @domain.command_handler(part_of=Note)
    class Notes:
        @handle(Write)
        def write(self, command: Write) -> str:
            note = Note(text=command.text)
            note.raise_(Noted(note_id=note.id, text=note.text))
            domain.repository_for(Note).add(note)
            return str(note.id)

        @handle(Edit)
        def edit(self, command: Edit) -> None:
            note = domain.repository_for(Note).get(command.note_id)
            note.text = command.text
            note.raise_(Noted(note_id=note.id, text=note.text))
            domain.repository_for(Note).add(note)

    domain.init(traverse=False)
    domain.Write, domain.Edit = Write, Edit  # type: ignore[attr-defined]
    return domain


@pytest.fixture
def domain(tmp_path: Path) -> Any:
    domain = build(tmp_path / "streams.db", echo=True)
    with domain.domain_context():
        domain.setup_database()
        yield domain
    domain.shutdown()


def _commands(domain: Domain) -> list[dict[str, Any]]:
    return [m for m in domain.event_store.read_all() if m["metadata"]["kind"] == "COMMAND"]


def test_commands_keyed_by_an_identity_field_look_their_stream_up_and_follow_each_other(domain, caplog):
    note_id = domain.process(domain.Write(text="a"))
    with caplog.at_level(logging.INFO, logger="archipel.sql"):
        for text in ("b", "c", "d"):
            domain.process(domain.Edit(note_id=note_id, text=text))
    sent = [r.getMessage() for r in caplog.records if r.name == "archipel.sql"]
    assert sum(s.startswith("SELECT max(archipel_events.position)") for s in sent) == 3
    edits = [m for m in _commands(domain) if m["metadata"]["stream"].endswith(f"command-{note_id}")]
    assert [m["metadata"]["position"] for m in edits] == [0, 1, 2]
    assert [m["data"]["text"] for m in edits] == ["b", "c", "d"]


@SETTINGS
@given(st.lists(st.booleans(), min_size=1, max_size=8))
def test_any_mix_of_own_and_keyed_commands_gets_gap_free_positions_per_stream(domain, keyed_flags):
    """Property: whatever the order of own-id and identity-keyed commands, every command
    stream holds positions 0..n-1, and each own-id command is alone at 0 in its stream."""
    note_id = domain.process(domain.Write(text="first"))
    for keyed in keyed_flags:
        if keyed:
            domain.process(domain.Edit(note_id=note_id, text="k"))
        else:
            domain.process(domain.Write(text="o"))
    streams: dict[str, list[int]] = {}
    own: set[str] = set()
    for message in _commands(domain):
        meta = message["metadata"]
        streams.setdefault(meta["stream"], []).append(meta["position"])
        if meta["stream"].endswith(f"command-{meta['id']}"):
            own.add(meta["stream"])
    assert f"streams::note:command-{note_id}" not in own
    for stream, positions in streams.items():
        assert positions == list(range(len(positions))), stream
        if stream in own:
            assert positions == [0]  # an own-id stream: that command alone


def test_an_own_id_command_stored_again_stores_nothing(domain):
    command = domain.Write(text="once")
    domain.process(command)
    store = domain.event_store
    before = _commands(domain)
    assert store.append([command]) == 0  # the same message id: already stored
    assert _commands(domain) == before
    assert before[0]["metadata"]["position"] == 0


def test_an_own_id_stream_that_is_not_empty_fails_the_append_loudly(domain):
    command = domain.Write(text="late")
    meta = command._metadata
    meta.id = "0190c8d4-0000-7000-8000-000000000001"
    meta.kind = "COMMAND"
    meta.type = "Streams.Write.v1"
    meta.stream = f"streams::note:command-{meta.id}"
    squatter = domain.Write(text="squatter")
    smeta = squatter._metadata
    smeta.id, smeta.kind, smeta.type = "another-id", "COMMAND", "Streams.Write.v1"
    smeta.stream, smeta.position = meta.stream, 0
    store = domain.event_store
    assert store.append([squatter]) == 1
    with pytest.raises(ExpectedVersionError, match="already has a message at position 0"):
        store.append([command])
    assert [m["metadata"]["id"] for m in _commands(domain)] == ["another-id"]
