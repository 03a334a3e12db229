"""The ``Product`` aggregate and its domain events.

Prices are integer cents: exact, and the same in every context's storage.
"""

from __future__ import annotations

from archipel import BaseAggregate, BaseEvent, atomic_change, current_domain, invariant
from archipel.errors import InvalidOperation, ValidationError
from archipel.fields import Auto, Boolean, Identifier, Integer, String
from examples.multi_domain.products import products_domain


@products_domain.aggregate
class Product(BaseAggregate):
    """A product of the catalogue (stream category ``products::product``)."""

    product_id = Auto(identifier=True)
    sku = String(required=True, max_length=20)
    name = String(required=True, max_length=100)
    category = String(max_length=40)
    list_price_cents = Integer(required=True, min_value=1)
    sale_price_cents = Integer(min_value=1)
    on_sale = Boolean(default=False)

    @property
    def current_price_cents(self) -> int:
        """What a customer pays today."""
        price = self.sale_price_cents if self.on_sale and self.sale_price_cents else self.list_price_cents
        return int(price)

    @invariant.post
    def a_sale_price_is_below_the_list_price(self) -> None:
        if self.sale_price_cents is not None and self.sale_price_cents >= self.list_price_cents:
            raise ValidationError({"sale_price_cents": ["must be below the list price"]})

    @classmethod
    def new_listing(cls, sku: str, name: str, category: str | None, list_price_cents: int) -> Product:
        product = cls(sku=sku, name=name, category=category, list_price_cents=list_price_cents)
        product.raise_(
            ProductListed(
                product_id=product.product_id,
                sku=sku,
                name=name,
                category=category,
                list_price_cents=list_price_cents,
            )
        )
        return product

    def put_on_sale(self, sale_price_cents: int) -> None:
        """Sell below the list price, within the context's discount limit."""
        max_discount = int(current_domain.config["custom"]["max_discount_percent"])
        floor = self.list_price_cents * (100 - max_discount) // 100
        if sale_price_cents < floor:
            raise InvalidOperation(
                f"{self.sku}: a sale may not go below {floor} cents ({max_discount}% off)"
            )
        # both fields change together: the invariant is checked once, on the result
        with atomic_change(self):
            self.sale_price_cents = sale_price_cents
            self.on_sale = True
        # domain language: what happened, and nothing another context might want
        self.raise_(ProductPutOnSale(product_id=self.product_id, sale_price_cents=sale_price_cents))


@products_domain.event(part_of=Product)
class ProductListed(BaseEvent):
    product_id = Identifier(required=True)
    sku = String(required=True)
    name = String(required=True)
    category = String()
    list_price_cents = Integer(required=True)


@products_domain.event(part_of=Product)
class ProductPutOnSale(BaseEvent):
    product_id = Identifier(required=True)
    sale_price_cents = Integer(required=True)
