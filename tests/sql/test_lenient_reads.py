"""Stored events holding a field their class no longer declares (Protean's lenient deserialization).

Release 1 stores ``Opened(ledger_id, memo)``; release 2 removes ``memo``. By
default reading the old event is a ``DeserializationError`` naming the field
(never a silent loss); ``lenient=True`` on the event, or the domain's
``lenient_deserialization = true``, drops it and records its name in the
message's ``_metadata.extensions["_dropped_fields"]``.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseEvent, Domain, apply
from archipel.errors import ConfigurationError, DeserializationError
from archipel.fields import Identifier, String
from archipel.handling.leniency import screen


def release(name: str, url: str, *, memo: bool, lenient: bool | None = None, config: dict | None = None):
    domain = Domain(name=name, config={"databases": {"default": {"provider": "sqlite", "database_uri": url}},
                                       "event_store": {"provider": "sqlite"},
                                       **(config or {})})
    options = {} if lenient is None else {"lenient": lenient}

    @domain.aggregate(event_sourced=True)
    class Ledger(BaseAggregate):
        ledger_id = Identifier(identifier=True)
        memo = String()

        @apply
        def opened(self, event: Opened) -> None:
            self.memo = getattr(event, "memo", None)

    if memo:
        class Opened(BaseEvent):
            ledger_id = Identifier()
            memo = String()
    else:
        class Opened(BaseEvent):  # type: ignore[no-redef]
            ledger_id = Identifier()

    domain.event(Opened, part_of=Ledger, **options)
    domain.init(traverse=False)
    return domain, Ledger, Opened


@pytest.fixture
def stored(tmp_path):
    """(name, url, ledger id) of a ledger whose Opened event carries a memo."""
    name, url = f"Books{uuid.uuid4().hex[:6]}", f"sqlite:///{tmp_path / 'ledger.db'}"
    old, Ledger, Opened = release(name, url, memo=True)
    with old.domain_context():
        old.setup_database()
        ledger = Ledger(ledger_id="l-1")
        ledger.raise_(Opened(ledger_id="l-1", memo="first"))
        old.repository_for(Ledger).add(ledger)
    old.shutdown()
    return name, url, "l-1"


def test_by_default_an_unknown_stored_field_is_an_error_naming_it(stored):
    name, url, ledger_id = stored
    new, Ledger, _Opened = release(name, url, memo=False)
    try:
        with new.domain_context(), pytest.raises(DeserializationError) as caught:
            new.repository_for(Ledger).get(ledger_id)
        assert "memo" in str(caught.value) and "lenient" in str(caught.value)
        assert caught.value.context["fields"] == ["memo"]
    finally:
        new.shutdown()


@pytest.mark.parametrize("how", ["option", "config"])
def test_a_lenient_event_drops_the_field_and_records_it(stored, how):
    name, url, ledger_id = stored
    if how == "option":
        new, Ledger, _Opened = release(name, url, memo=False, lenient=True)
    else:
        new, Ledger, _Opened = release(name, url, memo=False, config={"lenient_deserialization": True})
    try:
        with new.domain_context():
            ledger = new.repository_for(Ledger).get(ledger_id)
            assert ledger.ledger_id == ledger_id and ledger.memo is None
            [message] = new.event_store.store.read(f"{Ledger._meta.stream_category}-{ledger_id}")
            event = message.to_domain_object()
            assert event._metadata.extensions["_dropped_fields"] == ["memo"]
            assert not hasattr(event, "memo")
    finally:
        new.shutdown()


def test_the_class_option_wins_over_the_config(stored):
    name, url, ledger_id = stored
    new, Ledger, _Opened = release(name, url, memo=False, lenient=False,
                                   config={"lenient_deserialization": True})
    try:
        with new.domain_context(), pytest.raises(DeserializationError):
            new.repository_for(Ledger).get(ledger_id)
    finally:
        new.shutdown()


def test_bad_lenient_settings_are_configuration_errors(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(ConfigurationError, match="lenient=.yes. is not valid"):
        release("Bad", url, memo=True, lenient="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="lenient_deserialization must be true or false"):
        release("Bad2", url, memo=True, config={"lenient_deserialization": "yes"})


class _Domain:
    """The parts of a domain ``screen`` reads."""

    snake_name = "shop"

    def __init__(self, lenient: bool) -> None:
        self.config = {"lenient_deserialization": lenient}
        self.registry = type("Registry", (), {"external_events": {}})()


@settings(max_examples=60, deadline=None)
@given(
    declared=st.sets(st.sampled_from(["a", "b", "c", "d"]), min_size=1),
    stored_keys=st.sets(st.sampled_from(["a", "b", "c", "d", "e", "f"])),
    lenient=st.booleans(),
)
def test_screen_keeps_declared_fields_and_drops_or_refuses_the_rest(declared, stored_keys, lenient):
    fields = {name: String() for name in sorted(declared)}
    Message = type("Message", (BaseEvent,), fields)
    owner = Domain(name=f"S{uuid.uuid4().hex[:6]}")
    owner.event(Message, part_of=owner.aggregate(_aggregate()))
    data = {key: f"v-{key}" for key in stored_keys}
    unknown = sorted(stored_keys - declared)
    domain = _Domain(lenient)
    if unknown and not lenient:
        with pytest.raises(DeserializationError) as caught:
            screen(domain, Message, {"type": "S.Message.v1"}, data)
        assert caught.value.context["fields"] == unknown
        return
    kept, dropped = screen(domain, Message, {"type": "S.Message.v1"}, data)
    assert dropped == unknown
    assert kept == {k: v for k, v in data.items() if k in declared}


def _aggregate() -> type:
    return type("Holder", (BaseAggregate,), {"key": Identifier(identifier=True)})
