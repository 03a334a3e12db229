"""Custom event-sourced repositories (Protean's ``protean.core.event_sourced_repository``).

The code lives in :mod:`archipel.handling.event_sourced_repository` (it works
inside a unit of work, above the pure ``core`` layer); this module is the
documented Protean path (a façade; see docs/porting.md).
"""

from archipel.handling.event_sourced_repository import BaseEventSourcedRepository

__all__ = ["BaseEventSourcedRepository"]
