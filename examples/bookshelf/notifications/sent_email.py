"""``SentEmail``: the record of every e-mail sent (what support looks up)."""

from __future__ import annotations

from archipel import BaseProjection
from archipel.fields import DateTime, Identifier, String, Text
from examples.bookshelf import domain


@domain.projection(externally_populated=True)  # filled by the notifications' event handler
class SentEmail(BaseProjection):
    """One e-mail, identified by the event that caused it (a redelivery cannot send it twice)."""

    email_id = Identifier(identifier=True, required=True)
    order_id = Identifier(required=True)
    recipient = String(max_length=254, required=True)
    subject = String(max_length=200, required=True)
    body = Text()
    sent_at = DateTime()
