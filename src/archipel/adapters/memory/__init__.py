"""First-class in-memory adapters: database, event store and inline broker."""

from archipel.adapters.memory.broker import InlineBroker
from archipel.adapters.memory.database import MemoryDatabase
from archipel.adapters.memory.event_store import MemoryEventStore

__all__ = ["InlineBroker", "MemoryDatabase", "MemoryEventStore"]
