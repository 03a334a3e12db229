"""Protean's ``Domain`` attributes a ported program reads: ``[custom]`` constants, ``env``,
``testing``, ``secret_key``, ``has_outbox``, ``command_handler_for``, ``make_shell_context``,
``teardown_domain_context``, ``tracer``, ``meter``."""

from __future__ import annotations

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEvent, Domain, handle
from archipel.errors import ConfigurationError
from archipel.fields import String


def test_custom_values_are_attributes_of_the_domain():
    domain = Domain(name="Shop", config={"custom": {"TAX_RATE": 0.2, "regions": ["eu"], "my-key": 1}})
    assert domain.TAX_RATE == 0.2 and domain.regions == ["eu"]
    assert getattr(domain, "my-key") == 1  # any key, as Protean's setattr


@pytest.mark.parametrize("key", ["name", "process", "config", "init"])
def test_a_custom_key_that_would_hide_the_domain_s_own_attribute_is_an_error(key):
    with pytest.raises(ConfigurationError, match=f"\\[custom\\] key\\(s\\) '{key}' would hide"):
        Domain(name="Shop", config={"custom": {key: 1}})


def test_env_testing_secret_key_read_the_configuration():
    domain = Domain(name="Shop", config={"env": "staging", "testing": True, "secret_key": "s3"})
    assert (domain.env, domain.testing, domain.secret_key) == ("staging", True, "s3")
    bare = Domain(name="Bare")
    assert (bare.env, bare.testing, bare.secret_key) == (None, None, None)


def test_has_outbox_follows_the_configuration():
    assert Domain(name="A", config={"enable_outbox": True}).has_outbox
    assert Domain(name="B", config={"event_processing": "async"}).has_outbox
    assert not Domain(name="C").has_outbox


def _shop() -> tuple[Domain, type, type, type]:
    domain = Domain(name="Shop")

    @domain.aggregate
    class Order(BaseAggregate):
        item = String()

    @domain.event(part_of=Order)
    class Placed(BaseEvent):
        item = String()

    @domain.command(part_of=Order)
    class Place(BaseCommand):
        item = String()

    @domain.command(part_of=Order)
    class Cancel(BaseCommand):
        item = String()

    @domain.command_handler(part_of=Order)
    class Orders:
        @handle(Place)
        def place(self, command):
            pass

    domain.init(traverse=False)
    return domain, Orders, Place, Cancel


def test_command_handler_for_takes_a_command_or_its_class():
    domain, orders, place, cancel = _shop()
    assert domain.command_handler_for(place(item="x")) is orders
    assert domain.command_handler_for(place) is orders
    assert domain.command_handler_for(cancel) is None


def test_make_shell_context_names_the_domain_and_its_elements():
    domain, orders, place, _ = _shop()
    context = domain.make_shell_context()
    assert context["domain"] is domain
    assert context["Orders"] is orders and context["Place"] is place
    assert {"Order", "Placed", "Cancel"} <= set(context)


def test_teardown_functions_run_when_a_domain_context_ends_last_first_with_the_error():
    domain = Domain(name="Shop")
    calls: list[tuple[str, object]] = []

    @domain.teardown_domain_context
    def first(exc):
        calls.append(("first", exc))

    @domain.teardown_domain_context
    def second(exc):
        calls.append(("second", exc))

    with domain.domain_context():
        assert calls == []
    assert calls == [("second", None), ("first", None)]
    calls.clear()
    boom = RuntimeError("boom")
    with pytest.raises(RuntimeError), domain.domain_context():
        raise boom
    assert calls == [("second", boom), ("first", boom)]


def test_tracer_and_meter_are_usable_with_telemetry_off():
    domain = Domain(name="Shop")
    with domain.tracer.start_as_current_span("work") as span:
        span.set_attribute("k", "v")
        assert not span.is_recording()
    counter = domain.meter.create_counter("orders_placed")
    counter.add(1)
