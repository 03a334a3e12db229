"""Warehouse: what is on the shelves (seed 000's *inventory* context, seed 001's ``inventory`` domain).

Reacts to the sales context's ``OrderPlaced``: if every line can be served
it reserves them (one ``StockReserved`` per stock item), otherwise it
reserves nothing and emits ``OrderRejected``. Both are this context's facts;
what an order's status becomes is for the sales context to decide.
Stock items appear by themselves when the products context publishes a new
product (its integration event), with nothing on hand until stock arrives.
``ReservationHoldPM`` (``holds``) keeps an order's stock reserved until its
payment is settled, and releases it (compensation) when the payment is
declined or never comes (a deadline).
"""

from archipel import Domain

warehouse_domain = Domain(name="Warehouse")
