"""A small model used by the adapter suite: every field kind, events, messages."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from archipel import BaseAggregate, BaseEntity, BaseEvent, BaseValueObject, Domain
from archipel.core.message import utcnow
from archipel.fields import (
    Boolean,
    Date,
    DateTime,
    Decimal,
    Dict,
    Float,
    HasMany,
    Identifier,
    Integer,
    List,
    String,
    Text,
    ValueObject,
)


class Model:
    """The classes :func:`define` registered on one domain."""

    def __init__(self, domain: Domain, **classes: type) -> None:
        self.domain = domain
        self.__dict__.update(classes)

    def schema(self, cls: type) -> Any:
        return self.domain.schema_for(cls)


def define(domain: Domain) -> Model:
    """Register ``Account`` (every scalar kind, a value object, a list, a dict, entities)."""

    class Address(BaseValueObject):
        street = String(max_length=100)
        city = String(max_length=50)

    class Note(BaseEntity):
        text = String(max_length=200)
        stars = Integer()

    class Account(BaseAggregate):
        name = String(max_length=50, required=True)
        email = String(max_length=100, unique=True)
        bio = Text()
        age = Integer()
        score = Float()
        balance = Decimal()
        active = Boolean(default=True)
        born = Date()
        seen = DateTime()
        owner = Identifier()
        address = ValueObject(Address)
        tags = List(content_type=String)
        attributes = Dict()
        notes = HasMany(Note)

    class Opened(BaseEvent):
        account_id = Identifier()
        name = String()

    return Model(
        domain,
        Address=domain.value_object(Address),
        Account=domain.aggregate(Account),
        Note=domain.entity(Note, part_of=Account),
        Opened=domain.event(Opened, part_of=Account),
    )


def full_account(model: Model, ident: str = "a1", **overrides: Any) -> Any:
    """An ``Account`` with a value in every field."""
    values: dict[str, Any] = {
        "id": ident,
        "name": "Ann",
        "email": f"{ident}@example.org",
        "bio": "x" * 1000,
        "age": 41,
        "score": 2.5,
        "balance": "12.50",
        "active": False,
        "born": dt.date(1984, 2, 29),
        "seen": dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC),
        "owner": str(uuid.UUID(int=7)),
        "address": model.Address(street="1 Main St", city="Lyon"),
        "tags": ["a", "b"],
        "attributes": {"nested": {"k": [1, 2.5, None, True]}, "text": "é"},
        "notes": [model.Note(id="n1", text="hello", stars=3), model.Note(id="n2", text="again")],
    }
    values.update(overrides)
    return model.Account(**values)


def record(model: Model, account: Any) -> dict[str, Any]:
    """The record a unit of work saves for ``account``."""
    found: dict[str, Any] = account.to_dict()
    found["_event_position"] = -1
    return found


def message(
    event_cls: type,
    stream: str,
    position: int | None = None,
    correlation_id: str | None = None,
    **data: Any,
) -> Any:
    """An event with its metadata filled in, as an aggregate's ``raise_`` would."""
    event = event_cls(**data)
    meta = event._metadata
    meta.id = str(uuid.uuid4())
    meta.type = event_cls._meta.type_string or event_cls.__name__
    meta.stream = stream
    meta.time = utcnow()
    meta.position = position
    meta.correlation_id = correlation_id or meta.id
    return event
