"""The sales context's own copy of prices (seed 003's consumer, seed 001's local projection).

Fed only by the products context's integration event; the domain event
``ProductPutOnSale`` never reaches it, so products may rename or split that
event without sales noticing.
"""

from __future__ import annotations

from archipel import BaseProjection, current_domain, handle
from archipel.fields import Boolean, Identifier, Integer, String
from examples.multi_domain.sales import sales_domain
from examples.multi_domain.sales.external_events import CatalogueProduct


@sales_domain.projection
class PriceList(BaseProjection):
    product_id = Identifier(identifier=True)
    sku = String(required=True, max_length=20)
    name = String(required=True, max_length=100)
    unit_price_cents = Integer(required=True)
    on_sale = Boolean(default=False)


@sales_domain.projector(projector_for=PriceList, stream_categories=["products::product"])
class PriceListProjector:
    @handle(CatalogueProduct)
    def on_product_updated(self, event: CatalogueProduct) -> None:
        # the contract carries the whole observable state: overwrite every field
        repo = current_domain.repository_for(PriceList)
        entry = repo.get_or_none(event.product_id)
        if entry is None:
            entry = PriceList(
                product_id=event.product_id,
                sku=event.sku,
                name=event.name,
                unit_price_cents=event.current_price_cents,
            )
        entry.sku = event.sku
        entry.name = event.name
        entry.unit_price_cents = event.current_price_cents
        entry.on_sale = event.on_sale
        repo.add(entry)
