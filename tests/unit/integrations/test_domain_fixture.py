"""``DomainFixture``: set a domain up for tests, reset its data between tests, tear it down."""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEvent, current_domain, handle
from archipel.fields import Identifier, String
from archipel.integrations.pytest import DomainFixture


@pytest.fixture
def notes(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Note(BaseAggregate):
        text = String()

    @domain.event(part_of=Note)
    class NoteWritten(BaseEvent):
        note_id = Identifier()

    @domain.command(part_of=Note)
    class WriteNote(BaseCommand):
        text = String()

    @domain.command_handler(part_of=Note)
    class Notes:
        @handle(WriteNote)
        def write(self, command):
            note = Note(text=command.text)
            note.raise_(NoteWritten(note_id=note.id))
            current_domain.repository_for(Note).add(note)
            return note.id

    return domain, Note, WriteNote


def test_setup_initialises_the_domain_and_teardown_shuts_it_down(notes):
    domain, note_cls, write = notes
    fixture = DomainFixture(domain)
    fixture.setup()
    assert domain.initialized
    with domain.domain_context():
        note_id = domain.process(write(text="hi"))
        assert domain.repository_for(note_cls).get(note_id).text == "hi"
    fixture.teardown()
    assert not domain.initialized
    fixture.teardown()  # a second teardown is harmless


def test_domain_context_activates_the_domain_and_resets_data_on_exit(notes):
    domain, note_cls, write = notes
    fixture = DomainFixture(domain)
    fixture.setup()
    try:
        with fixture.domain_context() as active:
            assert active is domain
            assert current_domain.name == domain.name
            domain.process(write(text="first test"))
            assert domain.repository_for(note_cls).count() == 1
            assert domain.event_store.count() == 2
        assert not current_domain
        with fixture.domain_context():
            assert domain.repository_for(note_cls).count() == 0
            assert domain.event_store.count() == 0
    finally:
        fixture.teardown()


def test_domain_context_resets_data_even_when_the_test_fails(notes):
    domain, note_cls, write = notes
    fixture = DomainFixture(domain)
    fixture.setup()
    try:
        with pytest.raises(AssertionError):
            with fixture.domain_context():
                domain.process(write(text="x"))
                raise AssertionError("test failed")
        with fixture.domain_context():
            assert domain.repository_for(note_cls).count() == 0
    finally:
        fixture.teardown()


def test_domain_context_sets_the_domain_up_when_needed(notes):
    domain, note_cls, write = notes
    fixture = DomainFixture(domain)
    try:
        with fixture.domain_context():
            domain.process(write(text="x"))
            assert domain.repository_for(note_cls).count() == 1
    finally:
        fixture.teardown()


def test_a_torn_down_domain_can_be_set_up_again_empty(notes):
    domain, note_cls, write = notes
    fixture = DomainFixture(domain)
    fixture.setup()
    with domain.domain_context():
        domain.process(write(text="x"))
    fixture.teardown()
    fixture.setup()
    try:
        with domain.domain_context():
            assert domain.repository_for(note_cls).count() == 0
            domain.process(write(text="y"))
            assert domain.repository_for(note_cls).count() == 1
    finally:
        fixture.teardown()
