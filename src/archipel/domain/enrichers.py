"""Message and aggregate enrichers: cross-cutting metadata stamped by the domain.

- ``@domain.event_enricher`` / ``domain.register_event_enricher(fn)``:
  ``fn(event, aggregate) -> dict`` runs when an aggregate raises an event;
- ``@domain.command_enricher`` / ``domain.register_command_enricher(fn)``:
  ``fn(command) -> dict`` runs when ``domain.process`` receives a command;
- ``@domain.aggregate_enricher`` / ``domain.register_aggregate_enricher(fn)``:
  ``fn(aggregate)`` stamps fields (``updated_by``, ...) just before a
  (non event-sourced) aggregate is saved; its return value is ignored.

Message enrichers' dicts are merged into ``message._metadata.extensions`` in
registration order (a later enricher wins on a shared key). Extensions are
part of the metadata's stored and wire form, so they survive the event store,
the outbox, the broker and other processes. An enricher that raises stops
the operation (the event is not raised, the command not processed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from archipel.errors import IncorrectUsageError

__all__ = ["Enrichers"]

EventEnricher = Callable[[Any, Any], Mapping[str, Any]]
CommandEnricher = Callable[[Any], Mapping[str, Any]]
AggregateEnricher = Callable[[Any], Any]


def _callable(fn: Any, what: str) -> None:
    if not callable(fn):
        raise IncorrectUsageError(
            f"{what} enricher must be callable, got {fn!r}", code="USAGE_ENRICHER_NOT_CALLABLE",
            location=f"Domain.register_{what.lower()}_enricher",
        )


def _merge(target: dict[str, Any], found: Any, fn: Any) -> None:
    if not isinstance(found, Mapping):
        raise IncorrectUsageError(
            f"enricher {getattr(fn, '__qualname__', fn)!r} must return a dict, got {type(found).__name__}"
        )
    target.update(found)


class Enrichers:
    """Mixin of ``Domain``: the enricher registries and their decorators."""

    def __init__(self) -> None:
        self.event_enrichers: list[EventEnricher] = []
        self.command_enrichers: list[CommandEnricher] = []
        self.aggregate_enrichers: list[AggregateEnricher] = []

    def register_event_enricher(self, fn: EventEnricher) -> None:
        """Add ``fn(event, aggregate) -> dict``, merged into every raised event's extensions."""
        _callable(fn, "Event")
        self.event_enrichers.append(fn)

    @property
    def event_enricher(self) -> Callable[[EventEnricher], EventEnricher]:
        """Decorator form of :meth:`register_event_enricher` (``@domain.event_enricher``)."""

        def decorator(fn: EventEnricher) -> EventEnricher:
            self.register_event_enricher(fn)
            return fn

        return decorator

    def register_command_enricher(self, fn: CommandEnricher) -> None:
        """Add ``fn(command) -> dict``, merged into every processed command's extensions."""
        _callable(fn, "Command")
        self.command_enrichers.append(fn)

    @property
    def command_enricher(self) -> Callable[[CommandEnricher], CommandEnricher]:
        """Decorator form of :meth:`register_command_enricher` (``@domain.command_enricher``)."""

        def decorator(fn: CommandEnricher) -> CommandEnricher:
            self.register_command_enricher(fn)
            return fn

        return decorator

    def register_aggregate_enricher(self, fn: AggregateEnricher) -> None:
        """Add ``fn(aggregate)``, run on each aggregate just before it is saved."""
        _callable(fn, "Aggregate")
        self.aggregate_enrichers.append(fn)

    @property
    def aggregate_enricher(self) -> Callable[[AggregateEnricher], AggregateEnricher]:
        """Decorator form of :meth:`register_aggregate_enricher` (``@domain.aggregate_enricher``)."""

        def decorator(fn: AggregateEnricher) -> AggregateEnricher:
            self.register_aggregate_enricher(fn)
            return fn

        return decorator

    def enrich_event(self, event: Any, aggregate: Any) -> None:
        """Run the event enrichers on ``event``, raised by ``aggregate``."""
        extensions = event._metadata.extensions
        for fn in self.event_enrichers:
            _merge(extensions, fn(event, aggregate), fn)

    def enrich_command(self, command: Any) -> None:
        """Run the command enrichers on ``command``."""
        extensions = command._metadata.extensions
        for fn in self.command_enrichers:
            _merge(extensions, fn(command), fn)
