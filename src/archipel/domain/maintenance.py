"""History and maintenance operations of a ``Domain``: the causation trace of
a correlation, snapshots of event-sourced aggregates, projection rebuilds and
process-manager deadlines. Each is a façade over :mod:`archipel.handling`."""

from __future__ import annotations

from typing import Any

from archipel.domain.state import DomainState
from archipel.handling import causation
from archipel.port.event_store import CausationNode

__all__ = ["Maintenance"]


class Maintenance(DomainState):
    """Mixin of ``Domain``: replays, snapshots, rebuilds and deadlines."""

    def correlation_trace(self, correlation_id: str) -> list[CausationNode]:
        """The messages of a correlation chain, each before its effects (depth-first).

        Each :class:`~archipel.port.event_store.CausationNode` also holds its
        ``children``; an unknown correlation id gives ``[]``.
        """
        self._ensure_initialized()
        stored = self.providers.event_store.read_correlated(str(correlation_id))
        return causation.flatten(causation.causation_roots(stored))

    # -- snapshots ------------------------------------------------------------
    def create_snapshot(self, aggregate_cls: type, identifier: Any) -> bool:
        """Snapshot one event-sourced aggregate from a full replay of its stream.

        Returns True when a snapshot was written (False: that version has one
        already). ``IncorrectUsageError`` for a class that is not an
        event-sourced aggregate of this domain, ``ObjectNotFound`` when the
        aggregate has no events.
        """
        from archipel.handling.snapshots import create_snapshot

        self._ensure_initialized()
        return create_snapshot(self, aggregate_cls, identifier)

    def create_snapshots(self, aggregate_cls: type) -> int:
        """Snapshot every stored aggregate of ``aggregate_cls``; return how many were written."""
        from archipel.handling.snapshots import create_snapshots

        self._ensure_initialized()
        return create_snapshots(self, aggregate_cls)

    def create_all_snapshots(self) -> dict[str, int]:
        """Snapshot every event-sourced aggregate: ``{class name: snapshots written}``."""
        from archipel.handling.snapshots import create_all_snapshots

        self._ensure_initialized()
        return create_all_snapshots(self)

    # -- projections ----------------------------------------------------------
    def rebuild_projection(self, projection_cls: type, batch_size: int = 500) -> Any:
        """Empty a projection and replay its projectors' events from the event store.

        Returns a :class:`~archipel.handling.rebuild.RebuildResult`; an event
        that cannot be decoded or a projector error stops the rebuild and
        propagates. See :mod:`archipel.handling.rebuild`.
        """
        from archipel.handling.rebuild import rebuild_projection

        self._ensure_initialized()
        return rebuild_projection(self, projection_cls, batch_size)

    def rebuild_all_projections(self, batch_size: int = 500) -> dict[str, Any]:
        """Rebuild every projection that has projectors: ``{projection name: RebuildResult}``."""
        from archipel.handling.rebuild import rebuild_all_projections

        self._ensure_initialized()
        return rebuild_all_projections(self, batch_size)

    # -- process-manager deadlines ---------------------------------------------
    def fire_due_deadlines(self, now: Any = None) -> int:
        """Deliver the process-manager deadlines due by ``now`` (default: now); return how many.

        ``archipel server`` calls it every ``[server] deadline_poll_seconds``; call it
        yourself (a scheduler, a test) when no server runs.
        """
        from archipel.handling.deadline_firing import fire_due_deadlines

        self._ensure_initialized()
        return fire_due_deadlines(self, now)

