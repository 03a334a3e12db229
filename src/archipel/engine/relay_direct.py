"""The relay's direct path: outbox rows moved into a database broker in one transaction.

Where a database broker keeps its streams in the outbox's own PostgreSQL
database, the database offers a mover (``database.direct_relay(broker)``,
:mod:`archipel.adapters.sql.outbox_direct`) that claims, publishes and marks
rows sent in one transaction. :class:`DirectPath` finds that mover for each
database and runs a move within the shard leases the relay holds; the relay
(:mod:`archipel.engine.relay`) takes this path instead of claim, publish and
mark whenever :meth:`DirectPath.mover` returns one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archipel.domain.domain import INTEGRATION_PREFIX
from archipel.engine.leases import Lease
from archipel.engine.settings import EngineSettings
from archipel.utils import tracing

__all__ = ["DirectPath"]


class DirectPath:
    """Direct moves of one domain's outboxes into its broker (used by the relay's thread)."""

    def __init__(
        self, domain: Any, broker: Any, settings: EngineSettings, route: Callable[[dict[str, Any]], str]
    ) -> None:
        self.domain = domain
        self.broker = broker
        self.settings = settings
        self._route_row = route
        self._movers: dict[str, Any] = {}

    def mover(self, name: str) -> Any:
        """Database ``name``'s mover into the broker, or None: the broker keeps its streams
        elsewhere, tracing is on (the publish span needs the decoded messages), or an
        integration broker is configured (its rows go elsewhere)."""
        if tracing.tracer is not None or self.domain._integration_broker is not None:
            return None
        if name not in self._movers:
            database = self.domain.providers.databases.get(name)
            direct_relay = getattr(database, "direct_relay", None)
            self._movers[name] = direct_relay(self.broker) if direct_relay is not None else None
        return self._movers[name]

    def _route(self, row: dict[str, Any]) -> str:
        """The broker stream of an outbox row (as the ordinary path routes it)."""
        if row["stream"].startswith(INTEGRATION_PREFIX):
            return str(self.domain._integration_stream)
        return self._route_row(row)

    def move(self, mover: Any, owned: dict[int, Lease], shards: int) -> tuple[int, bool]:
        """Claim, publish and mark sent rows of the ``owned`` shards (of ``shards``) in one
        transaction that ends before those leases could have moved on; return how many rows
        moved and whether the outbox looked drained (fewer than a batch, or no time left)."""
        seconds = min(lease.remaining() for lease in owned.values()) - self.settings.lease_seconds / 10
        if seconds <= 0:
            return 0, True
        limit = self.settings.relay_batch_size
        rows = mover.move(
            self._route,
            limit=limit,
            seconds=seconds,
            shards=None if len(owned) >= shards else sorted(owned),
            of=shards,
        )
        return len(rows), bool(getattr(rows, "drained", len(rows) < limit))
