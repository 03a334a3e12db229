"""Small ports (``typing.Protocol``) that adapters implement."""

from archipel.port.broker import Broker, Delivery
from archipel.port.event_store import EventStore, StoredMessage
from archipel.port.provider import Database, OutboxRecord, Transaction
from archipel.port.schema import ModelSchema

__all__ = [
    "Broker",
    "Database",
    "Delivery",
    "EventStore",
    "ModelSchema",
    "OutboxRecord",
    "StoredMessage",
    "Transaction",
]
