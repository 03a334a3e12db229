"""Message contracts: JSON Schema of published events and commands, breaking-change detection."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from archipel import BaseAggregate, BaseCommand, BaseEvent, BaseUpcaster, Domain
from archipel.domain.contracts import compare_contracts, domain_contract
from archipel.fields import Identifier, Integer, List, String


def _shop(name: str, version: int = 1, fields: dict[str, Any] | None = None, upcaster: bool = False) -> Domain:
    domain = Domain(name=name, config={})

    @domain.aggregate
    class Order(BaseAggregate):
        total = Integer()

    namespace: dict[str, Any] = {"__version__": version}
    namespace.update(fields if fields is not None else {
        "order_id": Identifier(required=True), "amount": Integer(required=True), "note": String(max_length=50),
    })
    domain.event(part_of=Order, published=True)(type("OrderPlaced", (BaseEvent,), namespace))

    @domain.event(part_of=Order)
    class Internal(BaseEvent):  # not published: not part of the contract
        anything = String()

    @domain.command(part_of=Order)
    class PlaceOrder(BaseCommand):
        order_id = Identifier(required=True)
        lines = List(content_type=String)

    if upcaster:
        @domain.upcaster(event_type=f"{name}.OrderPlaced", from_version=1, to_version=version)
        class Up(BaseUpcaster):
            def upcast(self, data: dict[str, Any]) -> dict[str, Any]:
                return data

    domain.init(traverse=False)
    return domain


@pytest.fixture
def name() -> str:
    return f"Shop{uuid.uuid4().hex[:6]}"


def test_the_contract_holds_published_events_and_commands_as_json_schema(name: str) -> None:
    contract = domain_contract(_shop(name))
    assert sorted(contract["messages"]) == [f"{name}.OrderPlaced.v1", f"{name}.PlaceOrder.v1"]
    placed = contract["messages"][f"{name}.OrderPlaced.v1"]
    assert placed["kind"] == "integration_event"
    schema = placed["schema"]
    assert schema["type"] == "object" and schema["required"] == ["amount", "order_id"]
    assert schema["properties"]["amount"] == {"type": "integer"}
    assert schema["properties"]["note"] == {"type": "string", "maxLength": 50}
    lines = contract["messages"][f"{name}.PlaceOrder.v1"]["schema"]["properties"]["lines"]
    assert lines["type"] == "array" and lines["items"]["type"] == "string"


def _changes(name: str, **kwargs: Any) -> list[tuple[str, bool]]:
    recorded = domain_contract(_shop(name))
    changed = _shop(name, **kwargs)
    return [(c.text, c.breaking) for c in compare_contracts(changed, recorded).changes]


def test_the_same_code_has_no_changes(name: str) -> None:
    assert _changes(name) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"order_id": Identifier(required=True), "amount": Integer(required=True)},
         [("field 'note' removed (or renamed)", True)]),
        ({"order_id": Identifier(required=True), "amount": String(required=True), "note": String(max_length=50)},
         [("field 'amount' changed: {'type': 'integer'} -> {'type': 'string', 'maxLength': 255}", True)]),
        ({"order_id": Identifier(required=True), "amount": Integer(required=True), "note": String(max_length=50),
          "currency": String(required=True)},
         [("field 'currency' added as required", True)]),
        ({"order_id": Identifier(required=True), "amount": Integer(required=True), "note": String(max_length=50),
          "currency": String()},
         [("field 'currency' added (optional)", False)]),
        ({"order_id": Identifier(required=True), "amount": Integer(required=True),
          "note": String(max_length=50, required=True)},
         [("field 'note' is now required", True)]),
    ],
)
def test_field_changes_are_classified(name: str, fields: dict[str, Any], expected: list[tuple[str, bool]]) -> None:
    assert _changes(name, fields=fields) == expected


def test_a_version_bump_is_compatible_only_with_an_upcaster_path(name: str) -> None:
    renamed = {"order_id": Identifier(required=True), "total": Integer(required=True)}
    with_upcaster = _changes(name, version=2, fields=renamed, upcaster=True)
    assert with_upcaster[0] == ("version bumped from v1, upcasters lead there", False)
    assert not any(breaking for _, breaking in with_upcaster)
    without = _changes(name, version=2, fields=renamed)
    assert without == [(
        "version bumped from v1 without an upcaster path from v1: stored or in-flight v1 messages "
        "could not be read", True,
    )]


def test_a_removed_message_is_breaking_and_a_new_one_is_not(name: str) -> None:
    recorded = domain_contract(_shop(name))
    recorded["messages"][f"{name}.Gone.v1"] = {"kind": "command", "schema": {"type": "object"}}
    del recorded["messages"][f"{name}.PlaceOrder.v1"]
    changes = [(c.message, c.text, c.breaking) for c in compare_contracts(_shop(name), recorded).changes]
    assert changes == [
        (f"{name}.Gone.v1", "message removed", True),
        (f"{name}.PlaceOrder.v1", "message added", False),
    ]
