"""``Message``'s wire forms are Protean's: the nested ``to_dict()`` and CloudEvents 1.0."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseCommand, BaseEvent, Domain, handle
from archipel.errors import ConfigurationError, DeserializationError
from archipel.fields import Integer, String
from archipel.utils.eventing import Message
from archipel.utils.message_forms import checksum


@pytest.fixture
def shop():
    domain = Domain(name="Shop", config={"command_processing": "sync", "event_processing": "sync"})

    @domain.aggregate
    class Order(BaseAggregate):
        item = String()
        quantity = Integer()

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        item = String()
        quantity = Integer()

    @domain.command(part_of=Order)
    class Place(BaseCommand):
        item = String()
        quantity = Integer()

    @domain.command_handler(part_of=Order)
    class Orders:
        @handle(Place)
        def place(self, command):
            order = Order(item=command.item, quantity=command.quantity)
            order.raise_(Placed(item=command.item, quantity=command.quantity))
            domain.repository_for(Order).add(order)
            return order.id

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        order_id = domain.process(Place(item="pen", quantity=2))
        (message,) = domain.event_store.store.read(f"shop::order-{order_id}")
        yield domain, message, order_id, Placed


def test_to_dict_is_protean_s_nested_form(shop):
    _, message, order_id, _ = shop
    wire = message.to_dict()
    assert wire["data"] == {"item": "pen", "quantity": 2}
    meta = wire["metadata"]
    assert set(meta) == {"headers", "envelope", "domain", "event_store", "extensions"}
    assert set(meta["headers"]) == {"id", "time", "type", "stream", "traceparent", "idempotency_key", "deadline"}
    assert meta["headers"]["type"] == "Shop.Placed.v1" and meta["headers"]["stream"] == f"shop::order-{order_id}"
    assert isinstance(meta["headers"]["time"], str)
    assert meta["envelope"] == {"specversion": "1.0", "checksum": checksum({"item": "pen", "quantity": 2})}
    assert meta["domain"]["kind"] == "EVENT" and meta["domain"]["sequence_id"] == "0"
    assert meta["domain"]["stream_category"] == "shop::order" and meta["domain"]["expected_version"] == -1
    assert meta["domain"]["correlation_id"] and meta["domain"]["causation_id"]
    assert meta["event_store"]["position"] == 0 and meta["event_store"]["global_position"] >= 1


def test_the_nested_form_reads_back_into_the_same_event(shop):
    _, message, _, placed = shop
    back = Message.deserialize(message.to_dict())
    assert back.stored()["metadata"]["id"] == message.metadata["id"]
    event = back.to_domain_object()
    assert isinstance(event, placed) and (event.item, event.quantity) == ("pen", 2)
    assert event._metadata.correlation_id == message.metadata["correlation_id"]
    assert Message.from_dict(message.stored()).to_dict() == message.to_dict()  # archipel's form too


def test_a_changed_payload_fails_the_integrity_check(shop):
    _, message, *_ = shop
    wire = message.to_dict()
    wire["data"]["quantity"] = 200
    with pytest.raises(DeserializationError, match="checksum mismatch"):
        Message.deserialize(wire)
    assert Message.deserialize(wire, validate=False).data["quantity"] == 200
    copy = Message.from_dict(message.stored())
    assert copy.verify_integrity()
    copy.data["quantity"] = 3
    assert not copy.verify_integrity()


def test_the_external_form_leaves_out_what_only_the_producer_needs(shop):
    _, message, *_ = shop
    external = message.to_external_dict()
    assert set(external["metadata"]) == {"headers", "domain", "extensions"}
    assert not {"expected_version", "asynchronous", "priority"} & set(external["metadata"]["domain"])
    assert external["metadata"]["headers"]["id"] == message.metadata["id"]


def test_to_cloudevent_maps_protean_s_attributes(shop):
    domain, message, order_id, _ = shop
    event = message.to_cloudevent()
    assert event["specversion"] == "1.0" and event["id"] == message.metadata["id"]
    assert event["type"] == "Shop.Placed.v1" and event["source"] == "urn:archipel:shop"
    assert event["subject"] == order_id and event["datacontenttype"] == "application/json"
    assert (event["sequence"], event["proteansequencetype"], event["proteankind"]) == ("0", "Integer", "EVENT")
    assert event["proteancorrelationid"] == message.metadata["correlation_id"]
    assert event["data"] == {"item": "pen", "quantity": 2}
    assert None not in event.values()
    domain.config["source_uri"] = "https://shop.example.com"
    assert message.to_cloudevent()["source"] == "https://shop.example.com"


def test_a_cloudevent_reads_back_into_the_event_keeping_its_extensions(shop):
    _, message, _, placed = shop
    event = message.to_cloudevent()
    event["tenantid"] = "acme"  # an extension of the producer's
    back = Message.from_cloudevent(event)
    assert back.verify_integrity()
    assert back.metadata["extensions"] == {"ce_source": "urn:archipel:shop", "ce_subject": event["subject"], "tenantid": "acme"}
    domain_event = back.to_domain_object()
    assert isinstance(domain_event, placed) and domain_event.item == "pen"
    assert back.metadata["correlation_id"] == message.metadata["correlation_id"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"specversion": "1.0", "id": "1", "type": "T"}, "missing required attribute\\(s\\): source"),
        ({"id": "1", "source": "s"}, "missing required attribute\\(s\\): specversion, type"),
        ({"specversion": "0.3", "id": "1", "type": "T", "source": "s"}, "specversion '0.3' is not supported"),
        ({"specversion": "1.0", "id": "1", "type": "T", "source": "s", "data": [1]}, "data must be a JSON object"),
    ],
)
def test_a_malformed_cloudevent_is_a_value_error_naming_the_problem(event, message):
    with pytest.raises(ValueError, match=message):
        Message.from_cloudevent(event)


def test_source_uri_must_be_text():
    with pytest.raises(ConfigurationError, match="Invalid source_uri 42"):
        Domain(name="Bad", config={"source_uri": 42}).init(traverse=False)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5))
def test_any_json_payload_survives_both_wire_forms(data):
    message = Message({"id": "m-1", "type": "Shop.Placed.v1", "kind": "EVENT", "stream": "shop::order-1",
                       "time": "2030-01-01T00:00:00+00:00", "version": 1, "position": 0}, data)
    nested = Message.deserialize(message.to_dict())
    assert nested.data == data and nested.checksum == message.checksum
    cloud = Message.from_cloudevent(message.to_cloudevent())
    assert cloud.data == data and cloud.verify_integrity()
