"""One subscription per handler class: what it reads and how a message reaches it.

A subscription's name — ``<module>.<QualifiedName>`` of the handler class —
is its consumer group on the broker and its ``processed_as`` name in the
processed-message records. Kinds: ``command_handler`` (reads
``<category>:command``), ``event_handler``, ``projector``,
``process_manager`` (read the categories of their routes) and
``subscriber`` (reads one raw, unpartitioned stream).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archipel.core.handler import ANY
from archipel.engine.lanes import BULK, PRODUCTION
from archipel.engine.settings import EngineSettings
from archipel.engine.streams import broker_streams

if TYPE_CHECKING:
    from archipel.domain.domain import Domain
    from archipel.handling.dispatch import Route

__all__ = ["Subscription", "all_subscriptions", "active_subscriptions", "qualified_name"]

KINDS = ("command_handler", "event_handler", "projector", "process_manager", "subscriber")


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a handler class: its consumer group and processed-record name."""
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(eq=False)
class Subscription:
    """What one handler class consumes."""

    name: str
    kind: str
    handler_cls: type
    #: logical streams: categories, ``<category>:command``, or a raw stream name
    categories: list[str]
    partitioned: bool = True
    #: events: (category, type string) -> routes of this handler
    routes: dict[tuple[str, str], list[Route]] = field(default_factory=dict)
    #: commands: type string -> handler method
    commands: dict[str, Callable[..., Any]] = field(default_factory=dict)

    def partitions(self, settings: EngineSettings) -> int:
        return settings.partitions if self.partitioned else 1

    def broker_streams(self, settings: EngineSettings, partition: int | None = None) -> list[str]:
        """Broker streams read by this subscription (all lanes; one partition or all)."""
        if not self.partitioned:
            return list(self.categories)
        lanes = (PRODUCTION, BULK) if settings.priority_lanes else (PRODUCTION,)
        streams = []
        for category in self.categories:
            every = broker_streams(category, settings.partitions, lanes)
            if partition is None:
                streams += every
            else:
                streams += [s for s in every if _partition_suffix(s, settings.partitions) == partition]
        return streams

    def routes_for(self, category: str, type_string: str) -> list[Route]:
        found = self.routes.get((category, type_string))
        if found is None:
            found = self.routes.get((category, ANY), [])
        elif (category, ANY) in self.routes:
            found = found + self.routes[(category, ANY)]
        return found


def _partition_suffix(stream: str, partitions: int) -> int:
    if partitions <= 1:
        return 0
    return int(stream.rpartition("#")[2])


def all_subscriptions(domain: Domain) -> list[Subscription]:
    """Every handler of the domain as a subscription, ordered by kind then name."""
    router = domain.router
    found: dict[type, Subscription] = {}
    for command_cls, (handler_cls, method) in router.commands.items():
        part_of = command_cls._meta.part_of  # type: ignore[attr-defined]
        category = f"{part_of._meta.stream_category}:command"
        sub = found.get(handler_cls)
        if sub is None:
            sub = found[handler_cls] = Subscription(
                qualified_name(handler_cls), "command_handler", handler_cls, []
            )
        if category not in sub.categories:
            sub.categories.append(category)
        sub.commands[command_cls._meta.type_string] = method  # type: ignore[attr-defined]
    for route in router.routes:
        sub = found.get(route.handler_cls)
        if sub is None:
            sub = found[route.handler_cls] = Subscription(
                qualified_name(route.handler_cls), route.kind, route.handler_cls, []
            )
        if route.category not in sub.categories:
            sub.categories.append(route.category)
        type_string = ANY if route.target_cls is None else router.type_of(route.target_cls, route.handler_cls)
        sub.routes.setdefault((route.category, type_string), []).append(route)
    subs = list(found.values())
    for stream, subscriber_classes in router.subscribers.items():
        for cls in subscriber_classes:
            subs.append(Subscription(qualified_name(cls), "subscriber", cls, [stream], partitioned=False))
    subs.sort(key=lambda s: (KINDS.index(s.kind) if s.kind in KINDS else len(KINDS), s.name))
    return subs


def delivers_raw_inline(domain: Domain) -> bool:
    """Whether the default broker hands raw payloads to subscribers at publish time."""
    broker = domain.providers.brokers.get("default")
    return (
        domain.config.get("message_processing", "sync") == "sync"
        and broker is not None
        and bool(getattr(broker, "delivers_inline", False))
    )


def active_subscriptions(domain: Domain) -> list[Subscription]:
    """The subscriptions ``archipel server`` must run for this configuration.

    Commands when ``command_processing = "async"``, event handlers, projectors
    and process managers when ``event_processing = "async"``, subscribers
    unless the broker already delivers raw payloads synchronously.
    """
    commands_async = domain.config.get("command_processing", "sync") == "async"
    events_async = domain.config.get("event_processing", "sync") == "async"
    raw_async = not delivers_raw_inline(domain)
    active = []
    for sub in all_subscriptions(domain):
        if sub.kind == "command_handler":
            wanted = commands_async
        elif sub.kind == "subscriber":
            wanted = raw_async
        else:
            wanted = events_async
        if wanted:
            active.append(sub)
    return active
