"""Sales: orders (seed 000's *ordering* context, seed 001's ``order`` domain).

Seed 001's eventual consistency: placing an order never asks the warehouse
whether there is stock. The order is stored as ``placed`` and ``OrderPlaced``
goes out; the warehouse answers with its own events (``StockReserved`` per
line, or ``OrderRejected``) and this context reacts to them, confirming or
failing the order. Prices come from a local ``PriceList`` kept up to date by
the products context's integration event (seed 003), not from a call.
"""

from archipel import Domain

sales_domain = Domain(name="Sales")
