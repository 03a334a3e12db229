"""Holding a running server's live delivery off during a projection rebuild.

A rebuild (:mod:`.rebuild`) must keep ``archipel server``'s workers from
delivering to the projection's projectors while it empties and refills the
table. How is the engine's business (its leases:
:mod:`archipel.engine.rebuild_hold`), and the engine sits above this layer,
so it registers itself here with :func:`register_live_hold` when it is
imported — which importing ``archipel`` always does, before any module of
this package runs.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from archipel.handling.dispatch import Route

__all__ = ["LiveDeliveryHold", "live_delivery_held", "register_live_hold"]


class LiveDeliveryHold(Protocol):
    """Live delivery held off for a rebuild."""

    def watching(self, progress: Callable[[int, int], None] | None) -> Callable[[int, int], None]:
        """``progress`` (may be None), raising once the hold was lost (the rebuild must stop)."""
        ...


#: ``(domain, projector routes) -> context manager yielding the hold (None: nothing to hold)``
HoldFactory = Callable[[Any, "list[Route]"], AbstractContextManager["LiveDeliveryHold | None"]]

_factory: list[HoldFactory] = []


def register_live_hold(factory: HoldFactory) -> None:
    """Install how live delivery is held off (the engine calls this once; a second call replaces it)."""
    _factory[:] = [factory]


def live_delivery_held(domain: Any, routes: list[Route]) -> AbstractContextManager[LiveDeliveryHold | None]:
    """Hold live delivery to the projectors of ``routes`` off for a ``with`` block.

    Yields the hold, or None when there is no engine to hold (nothing
    registered) or nothing to hold (events handled inline).
    """
    if not _factory:
        return nullcontext(None)
    return _factory[0](domain, routes)
