"""Protean's nested reads of a message's envelope: ``_metadata.headers.time``,
``headers.idempotency_key``, ``event_store.global_position``, ``domain.kind`` — in
command and event handlers, and across a stored round trip."""

from __future__ import annotations

import datetime as dt

import pytest

from archipel import BaseAggregate, Metadata, current_domain, handle
from archipel.fields import Identifier
from tests.unit._support import start


@pytest.fixture
def bank(make_domain):
    domain = make_domain("Bank")
    domain.config["command_processing"] = "sync"
    domain.config["event_processing"] = "sync"
    seen: dict[str, object] = {}

    @domain.aggregate
    class Account(BaseAggregate):
        account_id = Identifier(identifier=True)

    @domain.event(part_of=Account)
    class Opened:
        account_id = Identifier(required=True)

    @domain.command(part_of=Account)
    class Open:
        account_id = Identifier(identifier=True)

    @domain.command_handler(part_of=Account)
    class Handler:
        @handle(Open)
        def open(self, command):
            headers = command._metadata.headers
            seen["key"] = headers.idempotency_key
            seen["command type"] = headers.type
            seen["command domain"] = command._metadata.domain.to_dict()
            account = Account(account_id=command.account_id)
            account.raise_(Opened(account_id=account.account_id))
            current_domain.repository_for(Account).add(account)

    @domain.event_handler(part_of=Account)
    class Reactions:
        @handle(Opened)
        def opened(self, event):
            meta = event._metadata
            seen["time"] = meta.headers.time
            seen["id"] = meta.headers.id
            seen["stream"] = meta.headers.stream
            seen["traceparent"] = meta.headers.traceparent
            seen["global position"] = meta.event_store.global_position
            seen["position"] = meta.event_store.position
            seen["flat id"] = meta.id
            seen["event domain"] = meta.domain.to_dict()
            seen["event domain name"] = meta.domain
            seen["event flat correlation"] = meta.correlation_id

    start(domain)
    return domain, Open, seen


def test_handlers_read_the_envelope_the_way_protean_nests_it(bank):
    domain, Open, seen = bank
    with domain.domain_context():
        domain.process(Open(account_id="a1"), idempotency_key="req-1")
    assert seen["key"] == "req-1"
    assert seen["command type"] == "Bank.Open.v1"
    assert isinstance(seen["time"], dt.datetime)
    assert seen["id"] == seen["flat id"] is not None
    assert seen["stream"] == "bank::account-a1"
    assert seen["traceparent"] is None
    assert seen["position"] == 0
    assert isinstance(seen["global position"], int)


def test_headers_stay_a_dict_and_survive_a_stored_round_trip():
    meta = Metadata(id="m1", type="Bank.Opened.v1")
    meta.headers["tenant"] = "t1"
    assert meta.headers == {"tenant": "t1"}
    assert meta.headers.tenant == "t1"
    assert meta.headers.id == "m1"
    with pytest.raises(AttributeError, match="tenant"):
        _ = meta.headers.colour
    again = Metadata.from_dict(meta.to_dict())
    assert again.headers.tenant == "t1"
    assert again.headers.type == "Bank.Opened.v1"
    assert again.envelope.specversion == "1.0"
    assert again.event_store.global_position is None


def test_an_envelope_with_headers_copies_and_pickles():
    import copy
    import pickle

    meta = Metadata(id="m2")
    meta.headers["tenant"] = "t2"
    for twin in (copy.deepcopy(meta), pickle.loads(pickle.dumps(meta)), copy.copy(meta)):
        assert twin.headers == {"tenant": "t2"}
        assert twin.headers.id == "m2"


def test_a_message_payload_is_a_property_holding_its_data(bank):
    _, Open, _ = bank
    command = Open(account_id="a9")
    assert command.payload == {"account_id": "a9"} == command.to_dict()
    assert command.to_message()["data"] == command.payload


def test_handlers_read_protean_domain_metadata_and_the_flat_name_still_reads(bank):
    domain, Open, seen = bank
    with domain.domain_context():
        domain.process(Open(account_id="a3"))
    event_meta = seen["event domain"]
    assert event_meta["kind"] == "EVENT"
    assert event_meta["fqn"].endswith(".Opened")
    assert event_meta["stream_category"] == "bank::account"
    assert event_meta["version"] == 1
    assert event_meta["sequence_id"] == "0"
    assert event_meta["expected_version"] == -1
    assert event_meta["correlation_id"] == seen["event flat correlation"] is not None
    assert event_meta["causation_id"] is not None
    assert event_meta["origin_stream"] is None
    command_meta = seen["command domain"]
    assert command_meta["kind"] == "COMMAND"
    assert command_meta["fqn"].endswith(".Open")
    assert command_meta["stream_category"] is None
    assert command_meta["sequence_id"] is command_meta["expected_version"] is None
    assert command_meta["causation_id"] is None
    # archipel's flat read: the domain's name, a str
    assert seen["event domain name"] == "Bank"
    assert isinstance(seen["event domain name"], str)


def test_domain_metadata_of_new_and_stored_messages(bank):
    domain, Open, _ = bank
    fresh = Open(account_id="a4")
    assert fresh._metadata.domain == ""  # no domain until processed
    assert fresh._metadata.domain.kind == "COMMAND"
    assert fresh._metadata.domain.fqn.endswith(".Open")
    assert fresh._metadata.to_dict()["domain"] is None  # the stored form is unchanged
    with domain.domain_context():
        domain.process(Open(account_id="a4"))
        stored = domain.event_store.store.read("$all")
    assert [m.metadata["domain"] for m in stored] == ["Bank", "Bank"]
    assert [m.metadata.domain.kind for m in stored] == ["COMMAND", "EVENT"]
    with domain.domain_context():
        assert stored[1].metadata.domain.fqn.endswith(".Opened")
        assert stored[1].to_domain_object()._metadata.domain.fqn.endswith(".Opened")
    meta = Metadata.from_dict(stored[1].metadata)
    assert meta.domain == "Bank" and meta.domain.stream_category == "bank::account-a4".partition("-")[0]
    assert Metadata.from_dict(meta.to_dict()).to_dict() == meta.to_dict()
