"""``Domain.check()`` (Protean's): a validation report, without initialising the domain or
connecting to anything."""

from __future__ import annotations

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseCommandHandler,
    BaseEvent,
    BaseEventHandler,
    BaseProjection,
    BaseProjector,
    Domain,
    handle,
    invariant,
)
from archipel.fields import Identifier, Integer, String


def _complete(domain):
    @domain.aggregate
    class Order(BaseAggregate):
        order_id = Identifier(identifier=True)

        @invariant.post
        def has_an_id(self):
            pass

    # a class declared in a function is a local name, which the source rules do not resolve
    # (Protean's neither): no method of Order can be seen raising it
    @domain.event(part_of=Order, suppress_checks=["UNRAISED_EVENT"])
    class OrderPlaced(BaseEvent):
        order_id = Identifier()

    @domain.command(part_of=Order)
    class PlaceOrder(BaseCommand):
        order_id = Identifier()

    @domain.command_handler(part_of=Order)
    class Orders(BaseCommandHandler):
        @handle(PlaceOrder)
        def place(self, command):
            pass

    @domain.projection
    class Totals(BaseProjection):
        order_id = Identifier(identifier=True)
        count = Integer(default=0)

    @domain.projector(projector_for=Totals, aggregates=[Order])
    class TotalsProjector(BaseProjector):
        @handle(OrderPlaced)
        def placed(self, event):
            pass

    return Order


def test_a_complete_domain_passes_and_stays_uninitialised(make_domain):
    domain = make_domain("Shop")
    _complete(domain)
    report = domain.check(traverse=False)
    assert report == {
        "domain": "Shop",
        "status": "pass",
        "errors": [],
        "diagnostics": [],
        "counts": {"errors": 0, "warnings": 0, "infos": 0},
    }
    assert not domain.initialized
    domain.init(traverse=False)  # check() left nothing that stops init()
    assert domain.initialized


def test_incomplete_wiring_is_reported_as_warnings(make_domain):
    domain = make_domain("Shop")
    Order = _complete(domain)

    @domain.command(part_of=Order)
    class CancelOrder(BaseCommand):
        order_id = Identifier()

    @domain.event(part_of=Order)
    class OrderCancelled(BaseEvent):
        order_id = Identifier()

    @domain.event(part_of=Order, published=True)
    class OrderShipped(BaseEvent):  # published: other domains consume it
        order_id = Identifier()

    @domain.projection
    class Nobody(BaseProjection):
        key = Identifier(identifier=True)

    report = domain.check(traverse=False)
    assert report["status"] == "warn"
    assert report["errors"] == []
    found = [(d["code"], d["element"].rpartition(".")[2]) for d in report["diagnostics"]]
    assert found == [  # sorted by code, then element (Protean's order)
        ("PROJECTION_WITHOUT_PROJECTOR", "Nobody"),
        ("PUBLISHED_NO_EXTERNAL_BROKER", "Shop"),  # no [integration] broker: it stays inside
        ("UNHANDLED_EVENT", "OrderCancelled"),
        ("UNRAISED_EVENT", "OrderCancelled"),  # read from this file: no method of Order raises them
        ("UNRAISED_EVENT", "OrderShipped"),
        ("UNUSED_COMMAND", "CancelOrder"),
    ]
    assert all(d["level"] == ("info" if d["code"] == "UNRAISED_EVENT" else "warning")
               and d["category"] == "handler_completeness" for d in report["diagnostics"])
    assert all(d["message"] and d["suggestion"] and d["rule"]["rationale"] for d in report["diagnostics"])
    assert report["counts"] == {"errors": 0, "warnings": 4, "infos": 2}


def test_an_event_handled_by_a_catch_all_handler_is_handled(make_domain):
    domain = make_domain("Shop")
    Order = _complete(domain)

    @domain.event(part_of=Order)
    class OrderNoted(BaseEvent):
        order_id = Identifier()

    @domain.event_handler(part_of=Order)
    class Audit(BaseEventHandler):
        @handle("$any")
        def everything(self, event):
            pass

    report = domain.check(traverse=False)
    assert [(d["code"], d["element"].rpartition(".")[2]) for d in report["diagnostics"]] == [
        ("UNRAISED_EVENT", "OrderNoted")]  # handled, though raised by no method of Order


def test_a_broken_model_is_an_error_in_the_report_not_an_exception(make_domain):
    domain = make_domain("Shop")

    @domain.event
    class Orphan(BaseEvent):  # no part_of
        order_id = Identifier()

    report = domain.check(traverse=False)
    assert report["status"] == "fail"
    [error] = report["errors"]
    assert error["code"] == "ConfigurationError"
    assert error["element"] == "model"
    assert "Orphan" in error["message"] and "part_of" in error["message"]
    assert report["diagnostics"] == []
    assert report["counts"] == {"errors": 1, "warnings": 0, "infos": 0}
    assert not domain.initialized


def test_a_bad_configuration_is_reported_without_connecting():
    domain = Domain(
        name="Shop",
        config={"databases": {"default": {"provider": "postgresql", "database_uri": "postgresql://nowhere/x"}},
                "brokers": {"default": {"provider": "carrier-pigeon"}}},
    )

    @domain.aggregate
    class Thing(BaseAggregate):
        name = String()

    report = domain.check(traverse=False)
    assert report["status"] == "fail"
    assert report["errors"][0]["element"] == "config"
    assert "carrier-pigeon" in report["errors"][0]["message"]


def test_a_domain_whose_database_is_unreachable_is_checked_without_connecting():
    domain = Domain(
        name="Shop",
        config={"databases": {"default": {"provider": "postgresql",
                                           "database_uri": "postgresql://nobody@127.0.0.1:9/none"}}},
    )
    _complete(domain)
    assert domain.check(traverse=False)["status"] == "pass"
    assert not domain.providers.databases


def test_an_ir_that_cannot_be_built_is_an_error_of_to_ir_as_in_protean(make_domain, monkeypatch):
    from archipel.ir import builder

    domain = make_domain("Shop")
    _complete(domain)

    def broken(self, **_options):
        raise RuntimeError("no document today")

    monkeypatch.setattr(builder.IRBuilder, "build", broken)
    report = domain.check(traverse=False)
    assert report["status"] == "fail" and report["diagnostics"] == []
    assert report["errors"] == [{"code": "RuntimeError", "element": "to_ir", "message": "no document today"}]
