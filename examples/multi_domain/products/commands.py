"""Use cases of the products context.

``PutProductOnSaleUseCase`` is seed 003's use case: it loads only what the
sale needs, changes the product and adds it back. It knows nothing of
read models, recommendations or other contexts: those react to the domain
event it raises.
"""

from __future__ import annotations

from typing import Any

from archipel import BaseCommand, current_domain, handle
from archipel.fields import Identifier, Integer, String
from examples.multi_domain.products import products_domain
from examples.multi_domain.products.product import Product


@products_domain.command(part_of=Product)
class ListProduct(BaseCommand):
    sku = String(required=True, max_length=20)
    name = String(required=True, max_length=100)
    category = String(max_length=40)
    list_price_cents = Integer(required=True, min_value=1)


@products_domain.command(part_of=Product)
class PutProductOnSale(BaseCommand):
    product_id = Identifier(required=True)
    sale_price_cents = Integer(required=True, min_value=1)


@products_domain.command_handler(part_of=Product)
class ListProductUseCase:
    @handle(ListProduct)
    def execute(self, command: ListProduct) -> Any:
        repo = current_domain.repository_for(Product)
        if repo.find(sku=command.sku).total:
            from archipel.errors import ValidationError

            raise ValidationError({"sku": [f"{command.sku} is already in the catalogue"]})
        product = Product.new_listing(
            command.sku, command.name, command.category, command.list_price_cents
        )
        repo.add(product)
        return product.product_id


@products_domain.command_handler(part_of=Product)
class PutProductOnSaleUseCase:
    @handle(PutProductOnSale)
    def execute(self, command: PutProductOnSale) -> None:
        repo = current_domain.repository_for(Product)
        product = repo.get(command.product_id)
        product.put_on_sale(command.sale_price_cents)
        repo.add(product)  # no integration concern here: handlers react to the event
