"""Outbox rows of a ``Domain``: the domain's events, and its integration
events bound for the integration broker (``[integration] broker``)."""

from __future__ import annotations

from typing import Any

from archipel.domain.state import DomainState

__all__ = ["INTEGRATION_PREFIX", "Outbox"]


#: marks outbox rows bound for the integration broker (``[integration] broker``)
INTEGRATION_PREFIX = "integration>"


class Outbox(DomainState):
    """Mixin of ``Domain``: the rows written to the outbox with the business transaction."""

    def integration_records(self, messages: list[Any]) -> list[dict[str, Any]]:
        """Outbox rows sending the integration events (``published=True``) among
        ``messages`` to the integration broker; the relay retries them on their
        own, so a broker that is down never holds up the domain's events."""
        rows = self.outbox_records([m for m in messages if type(m)._meta.published])
        for row in rows:
            row["stream"] = INTEGRATION_PREFIX + row["stream"]
        return rows

    def outbox_records(self, messages: list[Any]) -> list[dict[str, Any]]:
        """Outbox rows for ``messages`` (written in the business transaction)."""
        rows = []
        for m in messages:
            meta = m._metadata
            rows.append(
                {
                    "message_id": meta.id,
                    "stream": meta.stream,
                    "type": meta.type,
                    "priority": meta.priority,
                    "correlation_id": meta.correlation_id,
                    "message": m.to_message(),
                }
            )
        return rows

