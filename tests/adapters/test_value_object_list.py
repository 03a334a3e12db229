"""Protean's ``ValueObjectList`` fields are stored and read back on every provider."""

from __future__ import annotations

import datetime as dt

from archipel import BaseAggregate, BaseValueObject
from archipel.fields import String, ValueObject, ValueObjectList
from tests.adapters.conftest import start


def test_value_object_lists_round_trip(make_domain):
    domain = make_domain()

    @domain.value_object
    class Tag(BaseValueObject):
        name = String(max_length=10)

    @domain.aggregate
    class Note(BaseAggregate):
        tags = ValueObjectList(content_type=str)
        days = ValueObjectList(content_type=dt.date)
        labels = ValueObjectList(content_type=ValueObject(Tag))

    start(domain)
    with domain.domain_context():
        repo = domain.repository_for(Note)
        note = Note(tags=["a", "b"], days=[dt.date(2024, 1, 2)], labels=[Tag(name="x")])
        repo.add(note)
        back = repo.get(note.id)
        assert back.tags == ["a", "b"]
        assert back.days == [dt.date(2024, 1, 2)]
        assert back.labels == [Tag(name="x")]
