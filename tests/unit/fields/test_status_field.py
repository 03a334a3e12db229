"""``Status``: an Enum's values, with the allowed transitions enforced on change."""

from __future__ import annotations

import enum

import pytest

from archipel import BaseAggregate
from archipel.errors import ValidationError
from archipel.fields import Status


class OrderStatus(enum.Enum):
    DRAFT = "DRAFT"
    PLACED = "PLACED"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"


class Order(BaseAggregate):
    status = Status(
        OrderStatus,
        default=OrderStatus.DRAFT,
        transitions={
            OrderStatus.DRAFT: [OrderStatus.PLACED, OrderStatus.CANCELLED],
            OrderStatus.PLACED: [OrderStatus.CONFIRMED, OrderStatus.CANCELLED, OrderStatus.PLACED],
        },
    )


def test_values_are_the_enum_s_and_stored_plain():
    order = Order()
    assert order.status == "DRAFT"
    assert Order(status=OrderStatus.PLACED).status == "PLACED"
    with pytest.raises(ValidationError):
        Order(status="SHIPPED")
    assert Order._from_primitive(order.to_dict()).status == "DRAFT"


def test_allowed_transitions_pass_and_others_are_validation_errors():
    order = Order()
    order.status = OrderStatus.PLACED
    order.status = "PLACED"  # listed among its own targets: re-entry allowed
    assert order.can_transition_to("status", "CONFIRMED")
    assert not order.can_transition_to("status", "DRAFT")
    with pytest.raises(ValidationError) as err:
        order.status = OrderStatus.DRAFT
    assert "from 'PLACED' to 'DRAFT'" in err.value.messages["status"][0]
    order.status = OrderStatus.CONFIRMED
    with pytest.raises(ValidationError, match="terminal"):
        order.status = OrderStatus.CANCELLED
    assert order.status == "CONFIRMED"


def test_re_entry_needs_to_be_listed():
    order = Order()
    with pytest.raises(ValidationError, match="re-entering"):
        order.status = "DRAFT"


def test_status_without_transitions_allows_any_value_of_the_enum():
    class Ticket(BaseAggregate):
        state = Status(OrderStatus)

    ticket = Ticket(state="CONFIRMED")
    ticket.state = "DRAFT"
    assert ticket.state == "DRAFT"


def test_status_needs_an_enum():
    with pytest.raises(TypeError):
        Status(["a", "b"])  # type: ignore[arg-type]
