"""The engine's own tables, described as ordinary :class:`ModelSchema` records.

Dead letters and leases are stored through the Database port like any
projection, so they live in the domain's ``default`` database — memory,
SQLite or PostgreSQL alike — and commit in the same transaction as handler
effects when needed (the lease fence). Tables are per domain:
``archipel_<domain>_dead_letters`` and ``archipel_<domain>_leases``.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from archipel.errors import DatabaseError
from archipel.fields import Dict, Float, Integer, String, Text
from archipel.fields.base import Field
from archipel.port.schema import ModelSchema

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["DeadLetterRecord", "LeaseRecord", "dead_letter_schema", "lease_schema", "ensure_tables"]


class DeadLetterRecord:
    """Marker class of the dead-letter table (records are plain dicts)."""


class LeaseRecord:
    """Marker class of the lease table (records are plain dicts)."""


def _fields(**fields: Field) -> dict[str, Field]:
    for name, field in fields.items():
        field.name = name
    return fields


def dead_letter_schema(domain: Domain) -> ModelSchema:
    """One row per message a subscription gave up on (or parked behind one)."""
    return ModelSchema(
        name="DeadLetter",
        table=f"archipel_{domain.snake_name}_dead_letters",
        cls=DeadLetterRecord,
        id_field="id",
        fields=_fields(
            id=String(identifier=True, max_length=64),
            subscription=String(required=True, max_length=255),
            message_id=String(required=True, max_length=255),
            type=String(max_length=255),
            stream=String(max_length=255),
            broker_stream=String(max_length=255),
            payload=Dict(),
            error=Text(),
            attempts=Integer(),
            first_failed_at=Float(),
            last_failed_at=Float(),
            parked_behind=String(max_length=64),
            sequence=Integer(),
        ),
        kind="projection",
    )


def lease_schema(domain: Domain) -> ModelSchema:
    """Leases: partition ownership, relay leadership and worker membership."""
    return ModelSchema(
        name="Lease",
        table=f"archipel_{domain.snake_name}_leases",
        cls=LeaseRecord,
        id_field="id",
        fields=_fields(
            id=String(identifier=True, max_length=255),
            scope=String(max_length=255),
            owner=String(max_length=255),
            expires_at=Float(),
            token=Integer(),
        ),
        kind="projection",
    )


_ready: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()
_ready_lock = threading.Lock()


def ensure_tables(domain: Domain, database_name: str = "default") -> tuple[ModelSchema, ModelSchema]:
    """Create the engine tables in the ``database_name`` database (once per database object)."""
    database = domain.providers.database(database_name)
    schemas = (dead_letter_schema(domain), lease_schema(domain))
    with _ready_lock:
        try:
            done = _ready.setdefault(database, set())
        except TypeError:  # not weak-referenceable: set up every time (idempotent)
            done = set()
        missing = [s for s in schemas if s.table not in done]
        if missing:
            for attempt in range(3):
                try:
                    database.setup(missing)
                    break
                except DatabaseError:
                    # two processes creating the same table at once: PostgreSQL's
                    # CREATE TABLE IF NOT EXISTS can still collide; the next try sees it
                    if attempt == 2:
                        raise
                    time.sleep(0.2 * (attempt + 1))
            done.update(s.table for s in missing)
    return schemas
