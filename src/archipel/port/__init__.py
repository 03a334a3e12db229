"""Small ports (``typing.Protocol``) that adapters implement (Protean's ``protean.port``).

One module per port: :mod:`~archipel.port.provider` (``Database`` /
``BaseProvider``), :mod:`~archipel.port.dao` (``Transaction`` / ``BaseDAO``),
:mod:`~archipel.port.event_store` (``EventStore`` / ``BaseEventStore``),
:mod:`~archipel.port.broker` (``Publisher``, ``GroupReader``, ``BrokerAdmin``;
``Broker`` / ``BaseBroker`` is their union), :mod:`~archipel.port.outbox`
(``Outbox``), :mod:`~archipel.port.cache` (``CacheReader``, ``CacheWriter``,
``CacheAdmin``; ``Cache`` / ``BaseCache`` is their union),
:mod:`~archipel.port.schema` (``ModelSchema``) and the optional
:mod:`~archipel.port.bulk` (``BulkLog``, ``BulkLoad``: what makes a projection
rebuild fast on the SQL stores).
"""

from archipel.port.broker import (
    BaseBroker,
    Broker,
    BrokerAdmin,
    Delivery,
    Entry,
    GroupReader,
    Publisher,
)
from archipel.port.cache import BaseCache, Cache, CacheAdmin, CacheReader, CacheWriter
from archipel.port.dao import BaseDAO, OutboxRecord, Transaction
from archipel.port.event_store import BaseEventStore, EventStore, StoredMessage
from archipel.port.outbox import Outbox
from archipel.port.provider import BaseProvider, Database
from archipel.port.schema import ModelSchema

__all__ = [
    "BaseBroker",
    "BaseCache",
    "BaseDAO",
    "BaseEventStore",
    "BaseProvider",
    "Broker",
    "BrokerAdmin",
    "Cache",
    "CacheAdmin",
    "CacheReader",
    "CacheWriter",
    "Database",
    "Delivery",
    "Entry",
    "EventStore",
    "GroupReader",
    "ModelSchema",
    "Outbox",
    "OutboxRecord",
    "Publisher",
    "StoredMessage",
    "Transaction",
]
