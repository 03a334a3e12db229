"""Delivery: getting parcels to people (seed 000's *fulfillment* context).

It shows every way one context learns about others:

- ``recipients``: an event handler on another context's stream category
  (``stream_category="accounts::customer"``) keeps ``Recipient`` in sync;
  ``Recipient.customer_id`` is the correlation id back to Accounts.
- ``customer_cards``: a projection fed by Accounts' *fact events*, replaced
  wholesale on every change.
- ``fulfillment``: the ``OrderFulfillmentPM`` process manager correlates
  ``order_id`` across ``sales::order``, ``payments::payment`` and
  ``warehouse::stock_item`` through classes registered with
  ``register_external_event`` (``external_events``).
- ``carrier``: a subscriber, the anti-corruption layer for the parcel
  carrier's webhook: raw dict payloads in, this context's commands out.
"""

from archipel import Domain

delivery_domain = Domain(name="Delivery")
