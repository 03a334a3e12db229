"""Payments: money in and out (seed 000's *billing* context).

A payment is opened when the sales context places an order (the amount due
comes with ``OrderPlaced``), captured when the customer pays, and voided or
refunded when the sales context fails the order. ``PaymentCaptured``
(``Payments.PaymentCaptured.v1``) is what the delivery context's process
manager waits for.
"""

from archipel import Domain

payments_domain = Domain(name="Payments")
