"""The anti-corruption layer for SwiftParcel, the parcel carrier (seed 000's subscriber).

SwiftParcel posts webhooks in *its* language; they land as raw dicts on a
broker stream (the HTTP endpoint in ``api.py`` publishes them there). This
subscriber is the only code that knows that schema: it translates field
names and event names into delivery's commands and drops what delivery has
no use for. A payload looks like::

    {"event": "parcel.collected",
     "occurred_at": "2024-05-02T09:14:00Z",
     "parcel": {"tracking_code": "SP123", "merchant_reference": "<our shipment id>"},
     "proof_of_delivery": {"signatory": "A. Lovelace"}}     # parcel.delivered only
"""

from __future__ import annotations

import logging
from typing import Any

from archipel import BaseSubscriber, current_domain
from examples.multi_domain.delivery import delivery_domain
from examples.multi_domain.delivery.shipment import RecordDelivery, RecordPickup

logger = logging.getLogger(__name__)

#: the stream name is configuration (domain.toml [custom] carrier_stream), read at import
CARRIER_STREAM: str = delivery_domain.config["custom"]["carrier_stream"]


@delivery_domain.subscriber(stream=CARRIER_STREAM)
class SwiftParcelWebhook(BaseSubscriber):
    """Translate SwiftParcel's webhook payloads into delivery commands."""

    def __call__(self, payload: dict[str, Any]) -> None:
        kind = payload.get("event")
        parcel = payload.get("parcel") or {}
        shipment_id = parcel.get("merchant_reference")
        if not shipment_id:
            logger.warning("SwiftParcel payload without merchant_reference ignored: %r", kind)
            return
        if kind == "parcel.collected":
            current_domain.process(
                RecordPickup(shipment_id=shipment_id, tracking_code=parcel["tracking_code"])
            )
        elif kind == "parcel.delivered":
            proof = payload.get("proof_of_delivery") or {}
            current_domain.process(
                RecordDelivery(shipment_id=shipment_id, signed_by=proof.get("signatory"))
            )
        else:
            # "parcel.weighed", "label.printed", ...: facts of the carrier's
            # world that mean nothing here. Ignoring them *is* the translation.
            logger.info("SwiftParcel event %r has no meaning for delivery; ignored", kind)
