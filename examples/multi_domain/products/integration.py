"""The published language of the products context (seed 003).

``ProductUpdatedIntegrationEvent`` is an *integration* event: generic
("the product changed"), complete enough for any consumer, and versioned by
its stable type string ``Products.ProductUpdatedIntegrationEvent.v1``. It is
published as a *reaction* to domain events, never by a use case, so the
domain model can be refactored freely while the contract stays put.
"""

from __future__ import annotations

from archipel import BaseEvent, current_domain, handle
from archipel.fields import Boolean, Identifier, Integer, String
from examples.multi_domain.products import products_domain
from examples.multi_domain.products.product import Product, ProductListed, ProductPutOnSale


@products_domain.event(part_of=Product, published=True)
class ProductUpdatedIntegrationEvent(BaseEvent):
    product_id = Identifier(required=True)
    sku = String(required=True)
    name = String(required=True)
    category = String()
    list_price_cents = Integer(required=True)
    current_price_cents = Integer(required=True)
    on_sale = Boolean(default=False)


@products_domain.event_handler(part_of=Product)
class PublishProductUpdated:
    """Translates domain events into the integration contract."""

    @handle(ProductListed)
    def on_listed(self, event: ProductListed) -> None:
        self._publish(event.product_id)

    @handle(ProductPutOnSale)
    def on_put_on_sale(self, event: ProductPutOnSale) -> None:
        self._publish(event.product_id)

    @staticmethod
    def _publish(product_id: str) -> None:
        # Re-read the product: the domain event says what happened, the
        # contract carries the observable state other contexts need.
        repo = current_domain.repository_for(Product)
        product = repo.get(product_id)
        product.raise_(
            ProductUpdatedIntegrationEvent(
                product_id=product.product_id,
                sku=product.sku,
                name=product.name,
                category=product.category,
                list_price_cents=product.list_price_cents,
                current_price_cents=product.current_price_cents,
                on_sale=product.on_sale,
            )
        )
        repo.add(product)  # stored with the product's stream, relayed by the outbox when async
