"""Synchronous, breadth-first dispatch of committed events.

Every initialised domain of the process joins the *hub*. After a unit of
work commits, its events go to one FIFO queue per outermost call; each event
is delivered to every route (event handler, projector, process manager) of
every hub domain that subscribes to the event's stream category and knows
its type string, each in its own domain context and unit of work. Events
those handlers commit join the end of the queue (breadth-first), so a
process manager's state is saved before the events it caused reach it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archipel.utils.globals import dispatch_queue

if TYPE_CHECKING:
    from archipel.handling.protocols import DomainLike

__all__ = ["Route", "hub_domains", "join_hub", "leave_hub", "publish", "drain_after", "deliver"]

_HUB: list[DomainLike] = []


def join_hub(domain: DomainLike) -> None:
    """Make ``domain`` receive events committed by co-located domains."""
    if domain not in _HUB:
        _HUB.append(domain)


def leave_hub(domain: DomainLike) -> None:
    if domain in _HUB:
        _HUB.remove(domain)


def hub_domains() -> list[DomainLike]:
    """The initialised domains of this process."""
    return list(_HUB)


class Route:
    """One subscription: deliver events of ``type_string`` to a handler method."""

    __slots__ = ("kind", "domain", "handler_cls", "method", "target_cls", "spec", "name", "category", "idempotent", "retry_options")

    def __init__(
        self,
        *,
        kind: str,
        domain: DomainLike,
        handler_cls: type,
        method: Callable[..., Any],
        target_cls: type | None,
        spec: Any,
        category: str,
    ) -> None:
        self.kind = kind
        self.domain = domain
        self.handler_cls = handler_cls
        self.method = method
        self.target_cls = target_cls
        self.spec = spec
        self.category = category
        self.name = f"{handler_cls.__module__}.{handler_cls.__qualname__}"
        #: ``idempotent=True``: a redelivered message (same id) is handled once, in sync mode too
        options = getattr(getattr(handler_cls, "_meta", None), "extra", {})
        self.idempotent = bool(options.get("idempotent"))
        #: the handler's options when it declares ``retries`` (in-process retries), else None
        self.retry_options: dict[str, Any] | None = options if options.get("retries") else None

    def convert(self, event: Any) -> Any:
        """The event as an instance of this route's class (the consumer's own class)."""
        target = self.target_cls
        if target is None or type(event) is target:
            return event
        return target.from_message(  # type: ignore[attr-defined]
            {"data": event.to_dict(), "metadata": event._metadata.copy()}
        )

    def __repr__(self) -> str:
        return f"Route({self.kind}: {self.name} <- {self.category})"


def deliver(event: Any) -> None:
    """Deliver one event to every route of every hub domain that handles events inline."""
    meta = event._metadata
    category = meta.stream.partition("-")[0]
    type_string = meta.type
    for domain in _HUB:
        if not domain._inline_events:
            continue
        routes = domain.router.routes_for(category, type_string)
        if routes:
            for route in routes:
                domain.run_route(route, event)
        elif domain._upcasting is not None and domain._upcasting.steps:
            _deliver_upcast(domain, event, category, type_string)


def _deliver_upcast(domain: DomainLike, event: Any, category: str, type_string: str) -> None:
    """Deliver another domain's older version of an event this domain knows newer."""
    from archipel.handling.decoding import current_type, decode_stored

    current = current_type(domain, type_string)
    if current is None or current == type_string:
        return
    routes = domain.router.routes_for(category, current)
    if routes:
        upcast = decode_stored(domain, event.to_message())
        for route in routes:
            domain.run_route(route, upcast)



def publish(events: list[Any]) -> None:
    """Queue committed events for in-process delivery (drains if outermost)."""
    if not events:
        return
    queue = dispatch_queue.get()
    if queue is not None:
        queue.extend(events)
        return
    queue = deque(events)
    token = dispatch_queue.set(queue)
    try:
        while queue:
            deliver(queue.popleft())
    finally:
        dispatch_queue.reset(token)


def drain_after(action: Callable[[], Any]) -> Any:
    """Run ``action`` as the outermost dispatch scope, then deliver what it queued."""
    if dispatch_queue.get() is not None:
        return action()
    queue: deque[Any] = deque()
    token = dispatch_queue.set(queue)
    try:
        result = action()
        while queue:
            deliver(queue.popleft())
        return result
    finally:
        dispatch_queue.reset(token)
