"""A unit of work holding one object commits it with its events at once (``single_commit``,
the memory database's ``commit_row``): the same checks and the same all-or-nothing outcome as
a transaction's commit; and a handler that leaves its unit of work untouched commits nothing
but still runs its after-commit actions."""

from __future__ import annotations

import pytest

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEvent,
    BaseProjection,
    current_domain,
    current_uow,
    handle,
)
from archipel.errors import ExpectedVersionError, TransactionError, ValidationError
from archipel.fields import Identifier, String
from archipel.port.outbox import shard_key
from tests.unit._support import start


@pytest.fixture
def notes(make_domain):
    """``Write`` adds a ``Note`` (its id given) raising ``Written`` (its text given); a
    projector keeps ``Card`` rows, whose ``slug`` is unique; a handler only registers an
    after-commit action."""
    return _notes(make_domain())


@pytest.fixture
def outbox_notes(make_domain):
    """:func:`notes` with ``enable_outbox``: each event also gets an outbox row."""
    return _notes(make_domain(enable_outbox=True))


def _notes(domain):
    after: list[str] = []

    @domain.aggregate
    class Note(BaseAggregate):
        title = String()

    @domain.event(part_of=Note)
    class Written(BaseEvent):
        note_id = Identifier()
        text = String()

    @domain.command(part_of=Note)
    class Write(BaseCommand):
        note_id = Identifier()
        text = String()

    @domain.command_handler(part_of=Note)
    class Notes:
        @handle(Write)
        def write(self, command):
            note = Note(id=command.note_id, title="t")
            note.raise_(Written(note_id=note.id, text=command.text))
            current_domain.repository_for(Note).add(note)
            return note.id

    @domain.projection
    class Card(BaseProjection):
        note_id = Identifier(identifier=True)
        slug = String(unique=True)

    @domain.projector(projector_for=Card, aggregates=[Note])
    class Cards:
        @handle(Written)
        def on_written(self, event):
            current_domain.repository_for(Card).add(Card(note_id=event.note_id, slug=event.text[:3]))

    @domain.event_handler(part_of=Note)
    class Later:
        @handle(Written)
        def on_written(self, event):
            current_uow.after_commit(lambda: after.append(event.note_id))

    start(domain)
    return domain, Note, Card, Write, Written, after


def test_a_stream_position_taken_leaves_neither_the_row_nor_the_command(notes):
    domain, Note, _, Write, Written, _ = notes
    with domain.domain_context():
        store = domain.event_store
        elsewhere = Note(id="n-1", title="t")  # its event takes position 0 of the stream, no row
        elsewhere.raise_(Written(note_id="n-1", text="early"))
        store.append(elsewhere._events)
        before = store.count()
        with pytest.raises(ExpectedVersionError):
            domain.process(Write(note_id="n-1", text="late"))  # the row is new, the event's position is not
        assert store.count() == before
        assert domain.repository_for(Note).get_or_none("n-1") is None


def test_an_identity_taken_is_refused_before_anything_is_appended(notes):
    domain, Note, Card, Write, _, after = notes
    with domain.domain_context():
        domain.process(Write(note_id="n-1", text="first"))
        store = domain.event_store
        stored = store.count()
        assert stored == 2  # the command and its event
        with pytest.raises(ExpectedVersionError):
            domain.process(Write(note_id="n-1", text="second"))
        assert store.count() == stored
        assert domain.repository_for(Note).get("n-1")._version == 0
        assert domain.repository_for(Card).get("n-1").slug == "fir"
        assert after == ["n-1"]  # the untouched unit of work ran its action, once


def test_a_unique_value_taken_fails_the_projector_and_keeps_the_first_row(notes):
    domain, _, Card, Write, _, after = notes
    with domain.domain_context():
        domain.process(Write(note_id="n-1", text="same one"))
        with pytest.raises(TransactionError) as caught:
            domain.process(Write(note_id="n-2", text="same two"))
        assert isinstance(caught.value.__cause__, ValidationError)
        assert domain.repository_for(Card).get_or_none("n-2") is None
        assert domain.repository_for(Card).get("n-1").slug == "sam"
        assert after == ["n-1", "n-2"]  # the other handler of the event still ran


def test_with_the_outbox_a_command_commits_its_events_rows_or_nothing(outbox_notes):
    domain, Note, _, Write, Written, _ = outbox_notes
    with domain.domain_context():
        outbox = domain.providers.database("default").outbox()
        domain.process(Write(note_id="n-1", text="first"))
        (event,) = [m for m in domain.event_store.read_all() if m["metadata"]["kind"] == "EVENT"]
        (row,) = outbox.claim("relay", limit=10)
        stream = event["metadata"]["stream"]
        assert stream.endswith("note-n-1")
        assert (row["message_id"], row["stream"], row["shard"]) == (event["metadata"]["id"], stream, shard_key(stream))
        assert row["message"]["data"] == event["data"]
        elsewhere = Note(id="n-2", title="t")  # its event takes position 0 of the stream, no row
        elsewhere.raise_(Written(note_id="n-2", text="early"))
        domain.event_store.append(elsewhere._events)
        with pytest.raises(ExpectedVersionError):
            domain.process(Write(note_id="n-2", text="late"))
        assert outbox.claim("relay", limit=10) == []  # the failed command left no row
