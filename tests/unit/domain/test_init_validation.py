"""``Domain.init()`` refuses an inconsistent model with a message naming the element and the fix."""

from __future__ import annotations

import pytest

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEvent,
    BaseProjection,
    BaseValueObject,
    Domain,
    handle,
)
from archipel.errors import ConfigurationError, IncorrectUsageError
from archipel.fields import HasMany, Identifier, String


def init_error(domain: Domain) -> str:
    with pytest.raises(ConfigurationError) as info:
        domain.init(traverse=False)
    assert not domain.initialized
    return str(info.value)


def test_event_without_part_of(make_domain):
    domain = make_domain("Shop")

    @domain.event
    class OrderPlaced(BaseEvent):
        order_id = Identifier()

    message = init_error(domain)
    assert "OrderPlaced" in message
    assert "part_of" in message
    assert "@shop.event(part_of=" in message


def test_event_part_of_something_that_is_not_an_aggregate(make_domain):
    domain = make_domain()

    @domain.value_object
    class Money(BaseValueObject):
        amount = String()

    @domain.event(part_of=Money)
    class Paid(BaseEvent):
        amount = String()

    message = init_error(domain)
    assert "Paid" in message and "not a registered aggregate" in message


def test_event_handler_for_an_unregistered_event(make_domain):
    domain = make_domain("Shop")

    @domain.aggregate
    class Order(BaseAggregate):
        name = String()

    class Unregistered(BaseEvent):
        name = String()

    @domain.event_handler(part_of=Order)
    class Notifications:
        @handle(Unregistered)
        def on_it(self, event):
            pass

    message = init_error(domain)
    assert "Notifications" in message and "Unregistered" in message
    assert "register_external_event" in message


def test_command_handler_for_an_unregistered_command(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        name = String()

    class Stray(BaseCommand):
        name = String()

    @domain.command_handler(part_of=Order)
    class Orders:
        @handle(Stray)
        def stray(self, command):
            pass

    message = init_error(domain)
    assert "Orders" in message and "Stray" in message and ".command(part_of=" in message


def test_command_handled_twice(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        name = String()

    @domain.command(part_of=Order)
    class Place(BaseCommand):
        name = String()

    @domain.command_handler(part_of=Order)
    class First:
        @handle(Place)
        def place(self, command):
            pass

    @domain.command_handler(part_of=Order)
    class Second:
        @handle(Place)
        def place(self, command):
            pass

    message = init_error(domain)
    assert "Place" in message and "First" in message and "Second" in message
    assert "exactly one handler" in message


def test_has_many_to_something_that_is_not_an_entity(make_domain):
    domain = make_domain("Shop")

    @domain.value_object
    class Tag(BaseValueObject):
        name = String()

    @domain.aggregate
    class Order(BaseAggregate):
        tags = HasMany(Tag)

    message = init_error(domain)
    assert "Order.tags" in message and "Tag" in message
    assert "@shop.entity(part_of=Order)" in message


def test_projector_without_projector_for(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        name = String()

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        name = String()

    @domain.projector(aggregates=[Order])
    class Summaries:
        @handle(Placed)
        def on_placed(self, event):
            pass

    message = init_error(domain)
    assert "Summaries" in message and "projector_for" in message


def test_projector_for_something_that_is_not_a_projection(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        name = String()

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        name = String()

    @domain.projector(projector_for=Order, aggregates=[Order])
    class Summaries:
        @handle(Placed)
        def on_placed(self, event):
            pass

    message = init_error(domain)
    assert "Summaries" in message and "not a projection" in message


def test_process_manager_without_a_start_handler(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        name = String()

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        order_id = Identifier()

    @domain.process_manager(aggregates=[Order])
    class Fulfilment:
        order_id = Identifier()

        @handle(Placed, correlate="order_id")
        def on_placed(self, event):
            pass

    message = init_error(domain)
    assert "Fulfilment" in message and "start=True" in message


def test_process_manager_handler_without_correlate(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        name = String()

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        order_id = Identifier()

    @domain.process_manager(aggregates=[Order])
    class Fulfilment:
        order_id = Identifier()

        @handle(Placed, start=True)
        def on_placed(self, event):
            pass

    message = init_error(domain)
    assert "Fulfilment.on_placed" in message and "correlate" in message


def test_unresolvable_string_reference(make_domain):
    domain = make_domain("Shop")

    @domain.aggregate
    class Order(BaseAggregate):
        lines = HasMany("Nope")

    message = init_error(domain)
    assert "'Nope'" in message and "not registered" in message and "Shop" in message


def test_string_reference_resolves_to_the_registered_class(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        lines = HasMany("Line")

    @domain.entity(part_of="Order")
    class Line:
        sku = String()

    domain.init(traverse=False)
    assert Order._fields["lines"].to_cls is Line
    assert Line._meta.part_of is Order


def test_entity_without_part_of(make_domain):
    domain = make_domain()

    @domain.entity
    class Loose:
        name = String()

    message = init_error(domain)
    assert "Loose" in message and "part_of" in message


def test_projection_without_declared_identifier_gets_an_automatic_id(make_domain):
    domain = make_domain()

    @domain.projection
    class Board(BaseProjection):
        title = String()

    domain.init(traverse=False)
    assert Board._id_field == "id"


def test_unknown_database_provider_names_the_config_key(make_domain):
    domain = make_domain(databases={"default": {"provider": "oracle"}})
    message = init_error(domain)
    assert "databases.default.provider" in message
    assert "oracle" in message
    assert "memory" in message


def test_unknown_broker_provider_names_the_config_key(make_domain):
    domain = make_domain(brokers={"default": {"provider": "kafka"}})
    message = init_error(domain)
    assert "brokers.default.provider" in message and "kafka" in message


def test_using_a_domain_before_init_says_to_call_init(make_domain):
    domain = make_domain("Shop")

    @domain.aggregate
    class Order(BaseAggregate):
        name = String()

    with pytest.raises(IncorrectUsageError, match=r"shop.init\(\)"):
        domain.repository_for(Order)


def test_processing_an_unhandled_command_names_the_fix(make_domain):
    domain = make_domain("Shop")

    @domain.aggregate
    class Order(BaseAggregate):
        name = String()

    @domain.command(part_of=Order)
    class Place(BaseCommand):
        name = String()

    domain.init(traverse=False)
    with pytest.raises(IncorrectUsageError, match=r"@handle\(Place\)"):
        domain.process(Place(name="x"))


def test_init_twice_is_harmless_and_registering_later_reinitialises(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        name = String()

    domain.init(traverse=False)
    domain.init(traverse=False)
    assert domain.initialized

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        name = String()

    assert not domain.initialized
    domain.init(traverse=False)
    assert domain.router.messages[Placed._meta.type_string] is Placed


def test_event_handler_without_part_of_or_stream_category(make_domain):
    domain = make_domain()

    @domain.event_handler
    class Loose:
        @handle("$any")
        def on_any(self, event):
            pass

    message = init_error(domain)
    assert "Loose" in message and "part_of=Aggregate" in message and "stream_category" in message


def test_event_handler_without_handle_methods_is_accepted_as_protean_accepts_it(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Order(BaseAggregate):
        name = String()

    @domain.event_handler(part_of=Order)
    class Empty:
        def not_a_handler(self, event):
            pass

    domain.init(traverse=False)
    assert [r for r in domain.router.routes if r.handler_cls is Empty] == []


def test_unknown_event_store_provider_names_the_config_key(make_domain):
    domain = make_domain(event_store={"provider": "cassandra"})
    message = init_error(domain)
    assert "event_store.provider" in message and "cassandra" in message


def test_invalid_processing_mode_names_the_key_and_the_choices(make_domain):
    domain = make_domain(command_processing="later")
    message = init_error(domain)
    assert "command_processing" in message and "'sync'" in message and "'async'" in message
