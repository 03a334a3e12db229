"""Custom repositories of event-sourced aggregates (Protean's ``BaseEventSourcedRepository``).

``@domain.event_sourced_repository(part_of=Account)`` registers a subclass of
:class:`BaseEventSourcedRepository` whose extra methods (``get_active``,
``load_many``...) sit beside the standard ``add`` / ``get`` / ``get_or_none``
(``at_version=`` / ``as_of=``); ``domain.repository_for(Account)`` returns it.
``part_of`` must be an event-sourced aggregate (``IncorrectUsageError`` at
registration otherwise).
"""

from __future__ import annotations

from typing import Any

from archipel.core.options import ElementOptions
from archipel.handling.event_sourced import EventSourcedRepository

__all__ = ["BaseEventSourcedRepository"]


class BaseEventSourcedRepository(EventSourcedRepository):
    """Base of custom event-sourced repositories: subclass it and add methods."""

    _element_kind = "event_sourced_repository"
    _meta: ElementOptions = ElementOptions("event_sourced_repository", "BaseEventSourcedRepository")

    @property
    def _domain(self) -> Any:
        """The domain (Protean's attribute name for it)."""
        return self.domain
