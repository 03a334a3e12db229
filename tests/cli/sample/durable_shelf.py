"""Parcels and a courier who fails until a file exists: ``archipel dlq replay`` across processes.

Configured by the environment, so that the CLI, the server and the test
process all open the same storage:

- ``DURABLE_SHELF_DB``: an SQLite file or a ``postgresql://`` URL (else everything is in memory);
- ``DURABLE_SHELF_BROKER``: ``database`` (default), ``inline`` or a ``redis://`` URL;
- ``DURABLE_SHELF_FIXED``: a path; the courier delivers once it exists, and
  raises :class:`archipel.errors.InvalidOperation` (a business error:
  dead-lettered at once) until then.

:func:`build` makes the same domain in the test process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from archipel import BaseAggregate, BaseCommand, BaseEvent, Domain, current_domain, handle
from archipel.errors import InvalidOperation
from archipel.fields import Identifier, String


def config(db: str | None, broker: str | None) -> dict[str, Any]:
    """The domain's configuration for an SQLite file ``db`` and a ``broker`` (see the module)."""
    broker = broker or "database"
    if broker.startswith("redis"):
        broker_table: dict[str, Any] = {"provider": "redis", "URI": broker}
    else:
        broker_table = {"provider": broker}
    if db and db.startswith("postgresql"):
        storage: dict[str, Any] = {"provider": "postgresql", "database_uri": db}
    elif db:
        storage = {"provider": "sqlite", "database_uri": f"sqlite:///{db}"}
    else:
        storage = {"provider": "memory"}
    return {
        "databases": {"default": storage},
        "event_store": storage,
        "brokers": {"default": broker_table},
        "command_processing": "sync",
        "event_processing": "async",
        "enable_outbox": True,
        "server": {
            "partitions": 1,
            "lease_seconds": 2.0,
            "stream_subscription": {"max_retries": 2, "retry_delay_seconds": 0.01, "blocking_timeout_ms": 20},
        },
    }


def build(db: str | None, broker: str | None, fixed: str | None) -> Domain:
    """The domain ``CliDurable`` on ``db`` and ``broker``; the courier waits for the file ``fixed``."""
    shelf = Domain(name="CliDurable", config=config(db, broker))

    @shelf.aggregate
    class Parcel(BaseAggregate):
        label = String(required=True)

    @shelf.aggregate
    class Delivery(BaseAggregate):
        parcel_id = Identifier(required=True)
        label = String()

    @shelf.event(part_of=Parcel)
    class ParcelSent(BaseEvent):
        parcel_id = Identifier(required=True)
        label = String()

    @shelf.command(part_of=Parcel)
    class SendParcel(BaseCommand):
        label = String(required=True)

    @shelf.command_handler(part_of=Parcel)
    class ParcelCommands:
        @handle(SendParcel)
        def send(self, command: Any) -> None:
            parcel = Parcel(label=command.label)
            parcel.raise_(ParcelSent(parcel_id=parcel.id, label=parcel.label))
            current_domain.repository_for(Parcel).add(parcel)

    @shelf.event_handler(part_of=Parcel)
    class Courier:
        @handle(ParcelSent)
        def deliver(self, event: Any) -> None:
            if not (fixed and Path(fixed).exists()):
                raise InvalidOperation(f"no courier for parcel {event.label}")
            current_domain.repository_for(Delivery).add(Delivery(parcel_id=event.parcel_id, label=event.label))

    shelf.elements = {"SendParcel": SendParcel, "Delivery": Delivery}  # type: ignore[attr-defined]
    return shelf


domain = build(
    os.environ.get("DURABLE_SHELF_DB"), os.environ.get("DURABLE_SHELF_BROKER"), os.environ.get("DURABLE_SHELF_FIXED")
)
