"""Products: what the shop sells and at what price (seed 000's *catalogue* context).

Seed 003 lives here. The use case ``PutProductOnSale`` only changes the
``Product``, which raises the *domain* event ``ProductPutOnSale``. Three
handlers react to that one event, each in its own unit of work:

- ``read_models.ShopWindowProjector`` updates the ``ShopWindow`` read model;
- ``read_models.FeatureDeals`` puts the product on the deals board;
- ``integration.PublishProductUpdated`` re-reads the product and publishes
  the *integration* event ``Products.ProductUpdatedIntegrationEvent.v1``
  (``published=True``): the stable contract the sales and warehouse contexts
  consume under classes of their own. ``ProductPutOnSale`` never leaves.
"""

from archipel import Domain

products_domain = Domain(name="Products")
