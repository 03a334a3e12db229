"""Use cases of the sales context."""

from __future__ import annotations

from typing import Any

from archipel import BaseCommand, BaseValueObject, current_domain, handle
from archipel.errors import ValidationError
from archipel.fields import Identifier, Integer, List, ValueObject
from examples.multi_domain.sales import sales_domain
from examples.multi_domain.sales.order import Order, OrderLine
from examples.multi_domain.sales.price_list import PriceList


@sales_domain.value_object
class LineRequest(BaseValueObject):
    """One line as the customer asks for it: which product, how many."""

    product_id = Identifier(required=True)
    quantity = Integer(required=True, min_value=1, max_value=99)


@sales_domain.command(part_of=Order)
class PlaceOrder(BaseCommand):
    customer_id = Identifier(required=True)
    lines = List(content_type=ValueObject(LineRequest), required=True)


@sales_domain.command_handler(part_of=Order)
class PlaceOrderUseCase:
    @handle(PlaceOrder)
    def execute(self, command: PlaceOrder) -> Any:
        max_lines = int(current_domain.config["custom"]["max_lines_per_order"])
        if not command.lines or len(command.lines) > max_lines:
            raise ValidationError({"lines": [f"an order has 1 to {max_lines} lines"]})
        prices = current_domain.repository_for(PriceList)
        lines = []
        for request in command.lines:
            # the local price list, not the products context, prices the order
            entry = prices.get_or_none(request.product_id)
            if entry is None:
                raise ValidationError({"lines": [f"product {request.product_id} is not for sale"]})
            lines.append(
                OrderLine(
                    product_id=entry.product_id,
                    sku=entry.sku,
                    quantity=request.quantity,
                    unit_price_cents=entry.unit_price_cents,
                )
            )
        order = Order.place(command.customer_id, lines)
        # Stock is NOT checked here (seed 001): the order is "placed", and the
        # warehouse's answer arrives as an event.
        current_domain.repository_for(Order).add(order)
        return order.order_id
