"""Small ports (``typing.Protocol``) that adapters implement."""

from archipel.ports.broker import Broker, Delivery
from archipel.ports.database import Database, OutboxRecord, Transaction
from archipel.ports.event_store import EventStore, StoredMessage
from archipel.ports.schema import ModelSchema

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
