"""Synchronous, breadth-first dispatch of committed events.

Every initialised domain of the process joins the *hub*. After a unit of
work commits, its events go to one FIFO queue per outermost call; each event
is delivered to every route (event handler, projector, process manager) of
every hub domain that subscribes to the event's stream category and knows
its type string, each in its own domain context and unit of work. Events
those handlers commit join the end of the queue (breadth-first), so a
process manager's state is saved before the events it caused reach it.

A failing handler does not stop the drain (as in Protean 0.18): every
(event, handler) pair is an independent reaction, so the others still run.
The failures are collected and raised once the queue is empty, from the
outermost call: wrapped in a :class:`~archipel.errors.TransactionError`
("the commit's writes are durable, a reaction failed") whose ``__cause__``
is the failure itself, or an ``ExceptionGroup`` of them when several
failed. An interrupt (a ``BaseException`` that is no ``Exception``) still
ends the drain where it is raised.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archipel.errors import TransactionError
from archipel.utils import globals as _context

if TYPE_CHECKING:
    from archipel.handling.protocols import DomainLike

__all__ = ["Route", "hub_domains", "join_hub", "leave_hub", "publish", "drain", "drain_after", "deliver"]

_HUB: list[DomainLike] = []
#: names held by more than one hub domain (a domain built again, the earlier one never shut down)
_SHADOWED: set[str] = set()


def join_hub(domain: DomainLike) -> None:
    """Make ``domain`` receive events committed by co-located domains.

    A name is one bounded context: when several hub domains share a name (a
    domain built again while an earlier one of that name was never shut down,
    as Protean-style test fixtures do), an event reaches only one of them: the
    innermost of that name whose context is active, else the last one
    initialised. An earlier instance never receives a later one's events.
    """
    if domain not in _HUB:
        _HUB.append(domain)
        _shadow()


def leave_hub(domain: DomainLike) -> None:
    """Stop delivering co-located domains' events to ``domain`` (its shutdown)."""
    if domain in _HUB:
        _HUB.remove(domain)
        _shadow()


def _shadow() -> None:
    names = [domain.name for domain in _HUB]
    _SHADOWED.clear()
    _SHADOWED.update(name for name in names if names.count(name) > 1)


def _receivers() -> list[DomainLike]:
    """The hub domains an event goes to now: one per name (see :func:`join_hub`)."""
    if not _SHADOWED:
        return _HUB
    active = _context.scope.get()[0] or ()
    chosen: dict[str, DomainLike] = {domain.name: domain for domain in _HUB}  # the last initialised
    for domain in active:  # outermost first: the innermost active domain of a name wins
        if domain.name in _SHADOWED and any(d is domain for d in _HUB):
            chosen[domain.name] = domain
    picked = {id(domain) for domain in chosen.values()}
    return [domain for domain in _HUB if id(domain) in picked]


def hub_domains() -> list[DomainLike]:
    """The initialised domains of this process."""
    return list(_HUB)


class Route:
    """One subscription: deliver events of ``type_string`` to a handler method."""

    __slots__ = ("kind", "domain", "handler_cls", "method", "target_cls", "spec", "name", "category", "idempotent", "retry_options", "plain")

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
        #: run by ``Delivery._run_routes`` itself: no process manager, no redelivery check, no retries
        self.plain = kind != "process_manager" and not self.idempotent and self.retry_options is None

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


def deliver(event: Any, failures: list[Exception] | None = None) -> None:
    """Deliver one event to every route of every hub domain that handles events inline.

    With ``failures`` given, a route that raises is recorded there and the
    other routes still run; without it, the first failure propagates.
    """
    meta = event._metadata
    category = meta.stream.partition("-")[0]
    type_string = meta.type
    for domain in _HUB if not _SHADOWED else _receivers():
        if not domain._inline_events:
            continue
        router = domain.router
        routes = router._cache.get((category, type_string))  # routes_for's cache, inline
        if routes is None:
            routes = router.routes_for(category, type_string)
        if routes:
            # each route sets the event (or its own class's copy) as the message being
            # handled, with its unit of work, in one scope
            domain._run_routes(routes, event, failures)
        elif domain._upcasting is not None and domain._upcasting.steps:
            _deliver_upcast(domain, event, category, type_string, failures)


def _run(domain: DomainLike, route: Route, event: Any, failures: list[Exception] | None) -> None:
    try:
        if route.retry_options is None:  # methods called, not bound first (no method object per call)
            domain._run_route_once(route, event)
        else:
            domain.run_route(route, event)
    except Exception as exc:
        if failures is None:
            raise
        failures.append(exc)  # collected, raised when the drain ends


def _deliver_upcast(
    domain: DomainLike, event: Any, category: str, type_string: str, failures: list[Exception] | None
) -> None:
    """Deliver another domain's older version of an event this domain knows newer."""
    from archipel.handling.decoding import current_type, decode_stored

    current = current_type(domain, type_string)
    if current is None or current == type_string:
        return
    routes = domain.router.routes_for(category, current)
    if routes:
        upcast = decode_stored(domain, event.to_message())
        for route in routes:
            _run(domain, route, upcast, failures)


def drain(queue: deque[Any], wrap: bool = True) -> None:
    """Deliver every queued event (and those its handlers add); then raise what failed."""
    failures: list[Exception] = []
    delivered = 0
    while queue:
        # ``deliver(queue.popleft(), failures)``, inline: one frame less per event
        event = queue.popleft()
        meta = event._metadata
        category = meta.stream.partition("-")[0]
        type_string = meta.type
        for domain in _HUB if not _SHADOWED else _receivers():
            if not domain._inline_events:
                continue
            router = domain.router
            routes = router._cache.get((category, type_string))
            if routes is None:
                routes = router.routes_for(category, type_string)
            if routes:
                domain._run_routes(routes, event, failures)
            elif domain._upcasting is not None and domain._upcasting.steps:
                _deliver_upcast(domain, event, category, type_string, failures)
        delivered += 1
    if not failures:
        return
    failure: Exception = (
        failures[0] if len(failures) == 1
        else ExceptionGroup(f"synchronous dispatch: {len(failures)} handlers failed", failures)
    )
    if not wrap:
        raise failure
    raise TransactionError(
        f"Unit of Work commit failed: {_describe(failure)} (the commit's own writes are kept;"
        f" {delivered} event(s) were delivered to every handler, {len(failures)} handler(s) failed)",
        extra_info={
            "original_exception": type(failure).__name__,
            "original_message": _message(failure),
            "failures": len(failures),
            "events_count": delivered,
        },
    ) from failure


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a user __str__ must not replace the failure reported
        return "<unprintable>"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ExceptionGroup):
        return "; ".join(_describe(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {_message(exc)}"



def publish(events: list[Any], *, wrap: bool = True) -> None:
    """Queue committed events for in-process delivery (drains if outermost).

    Raises :class:`~archipel.errors.TransactionError` (``wrap=False``: the
    failure itself, or an ``ExceptionGroup``) when handlers failed; every
    other handler has run by then.
    """
    if not events:
        return
    outer = _context.scope.get()
    queue = outer[3]
    if queue is not None:
        queue.extend(events)
        return
    queue = deque(events)
    token = _context.scope.set((outer[0], outer[1], outer[2], queue))
    try:
        drain(queue, wrap)
    finally:
        _context.scope.reset(token)


def drain_after(action: Callable[..., Any], *args: Any, wrap: bool = True) -> Any:
    """Run ``action(*args)`` as the outermost dispatch scope, then deliver what it queued.

    Inside an outer scope, ``action(*args)`` only runs: the outermost call drains.
    """
    outer = _context.scope.get()
    if outer[3] is not None:
        return action(*args)
    queue: deque[Any] = deque()
    token = _context.scope.set((outer[0], outer[1], outer[2], queue))
    try:
        result = action(*args)
        drain(queue, wrap)
        return result
    finally:
        _context.scope.reset(token)
