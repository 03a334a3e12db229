"""Payments: money in and out (seed 000's *billing* context).

A payment is opened when the sales context places an order (the amount due
comes with ``OrderPlaced``), captured when the customer pays, and voided or
refunded when the sales context fails or cancels the order; ``DeclinePayment``
records the bank's refusal (``Payments.PaymentDeclined.v1``, which makes the
warehouse release the order's stock). ``PaymentCaptured``
(``Payments.PaymentCaptured.v1``) is what the delivery context's process
manager waits for.
"""

from archipel import Domain

payments_domain = Domain(name="Payments")
