"""Reactions inside the products context: its own read models.

Both react to the domain events directly; neither knows the integration
event exists.
"""

from __future__ import annotations

from archipel import BaseProjection, current_domain, handle
from archipel.fields import Boolean, Identifier, Integer, String
from examples.multi_domain.products import products_domain
from examples.multi_domain.products.product import Product, ProductListed, ProductPutOnSale


@products_domain.projection
class ShopWindow(BaseProjection):
    """One card per product, as the shop's front page shows it."""

    product_id = Identifier(identifier=True)
    sku = String(required=True)
    name = String(required=True)
    price_cents = Integer(required=True)
    was_cents = Integer()  # the struck-through list price, while on sale
    badge = String(max_length=20)


@products_domain.projector(projector_for=ShopWindow, aggregates=[Product])
class ShopWindowProjector:
    @handle(ProductListed)
    def on_listed(self, event: ProductListed) -> None:
        current_domain.repository_for(ShopWindow).add(
            ShopWindow(
                product_id=event.product_id,
                sku=event.sku,
                name=event.name,
                price_cents=event.list_price_cents,
                badge="new",
            )
        )

    @handle(ProductPutOnSale)
    def on_put_on_sale(self, event: ProductPutOnSale) -> None:
        repo = current_domain.repository_for(ShopWindow)
        card = repo.get(event.product_id)
        if card.was_cents is None:
            card.was_cents = card.price_cents
        card.price_cents = event.sale_price_cents
        card.badge = "sale"
        repo.add(card)


@products_domain.projection
class Deal(BaseProjection):
    """The deals board: products on sale, biggest discount first."""

    product_id = Identifier(identifier=True)
    headline = String(required=True, max_length=140)
    discount_percent = Integer(required=True)
    active = Boolean(default=True)


@products_domain.event_handler(part_of=Product)
class FeatureDeals:
    """Seed 003's "recalculate recommendations": one more reaction, added without touching the use case."""

    @handle(ProductPutOnSale)
    def on_put_on_sale(self, event: ProductPutOnSale) -> None:
        # the event carries only the sale price: the list price is re-read here
        product = current_domain.repository_for(Product).get(event.product_id)
        discount = round(100 * (1 - event.sale_price_cents / product.list_price_cents))
        current_domain.repository_for(Deal).add(
            Deal(
                product_id=product.product_id,
                headline=f"{product.name}: {discount}% off",
                discount_percent=discount,
            )
        )
