"""Message delivery inside a ``Domain``: events to their handler routes, raw
broker payloads to subscribers, queries to query handlers, and actions run in
a unit of work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archipel.domain.state import DomainState
from archipel.errors import ConfigurationError, IncorrectUsageError
from archipel.handling import dispatch
from archipel.handling.nested_uow import doom
from archipel.handling.retrying import run_with_retries
from archipel.handling.single_commit import commit_single
from archipel.handling.unit_of_work import UnitOfWork, handler_unit_of_work, unit_of_work
from archipel.utils import globals as _context

__all__ = ["Delivery"]


class Delivery(DomainState):
    """Mixin of ``Domain``: handler routes, subscribers, query handlers and emails."""

    def get_email_provider(self, provider_name: str = "default") -> Any:
        """The email provider ``[email_providers.<provider_name>]``; ConfigurationError naming the configured ones."""
        self._ensure_initialized()
        try:
            return self._email_providers[provider_name]
        except KeyError:
            raise ConfigurationError(
                f"no email provider named {provider_name!r}: add [email_providers.{provider_name}] "
                f"(configured: {', '.join(self._email_providers) or 'none'})"
            ) from None

    def send_email(self, email: Any) -> bool:
        """Hand ``email`` (a registered ``BaseEmail``) to its provider; the provider's answer."""
        meta = getattr(email, "_meta", None)
        if meta is None or meta.kind != "email" or meta.domain is not self:
            raise IncorrectUsageError(
                f"send_email takes an email registered with @{self.snake_name}.email, got {type(email).__name__}"
            )
        return bool(self.get_email_provider(meta.get("provider", "default")).send_email(email))

    def run_in_unit_of_work(self, action: Callable[[UnitOfWork], Any], message: Any = None) -> Any:
        """Run ``action(uow)`` in a new unit of work, commit, dispatch its events.

        Inside an active unit of work of this domain (an ``@use_case`` called from a
        handler, say), ``action`` runs in that one instead: Protean's nesting
        (:mod:`archipel.handling.nested_uow`). When it raises, that unit of work is
        doomed: it rolls back rather than commit.
        """
        current = _context.scope.get()[1]
        if current is not None and current.domain is self and message is None:
            try:
                return action(current)
            except BaseException:
                doom(current)
                raise

        def run() -> Any:
            with unit_of_work(self, message) as uow:
                result = action(uow)
            if self.handles_events_inline:
                dispatch.publish(uow.committed_events)
            return result

        return dispatch.drain_after(run)

    def run_route(self, route: dispatch.Route, event: Any) -> None:
        """Deliver one event to one handler route of this domain (own context and unit of work).

        A handler declared with ``retries=N`` is run again after a transient failure
        (:mod:`archipel.handling.retrying`).
        """
        if route.retry_options is not None:
            run_with_retries(route.retry_options, lambda: self._run_route_once(route, event))
        else:
            self._run_route_once(route, event)

    def _run_route_once(self, route: dispatch.Route, event: Any) -> None:
        target = route.target_cls
        message = event if target is None or type(event) is target else route.convert(event)
        outer = _context.scope.get()
        domains = outer[0]
        if not domains or domains[-1] is not self:
            domains = (*domains, self)
        if route.kind == "process_manager":
            from archipel.handling.process_managers import run_process_manager

            token = _context.scope.set((domains, outer[1], outer[2], outer[3]))
            try:
                run_process_manager(self, route, message)
            finally:
                _context.scope.reset(token)
            return
        uow = handler_unit_of_work(self, message)
        # one scope set for the domain, the unit of work and the message being handled
        token = _context.scope.set((domains, uow, message, outer[3]))
        try:
            if route.idempotent and not uow.transaction("default").mark_processed(
                f"{route.name}.{route.spec.method_name}", message._metadata.id
            ):
                uow.rollback()  # handled before: a redelivery has no second effect
                return
            method, handler_cls = route.method, route.handler_cls  # slots: plain loads, then calls
            method(handler_cls(), message)
            # a unit of work the handler left untouched has nothing to commit (no call)
            if uow._tracked or uow._transactions or uow._deleted or uow._after_commit or uow.processed_as:
                events = uow.commit()
            else:
                events = None
        except BaseException:
            uow.rollback()
            raise
        finally:
            _context.scope.reset(token)
        if events and self._inline_events:
            dispatch.publish(events)

    def _run_routes(self, routes: list[dispatch.Route], event: Any, failures: list[Exception] | None) -> None:
        """Deliver ``event`` to each of ``routes`` of this domain (``dispatch.deliver``'s loop).

        Each route runs as :meth:`_run_route_once` runs it (a unit of work of its own,
        the event as the message being handled, its failure recorded in ``failures``
        or, without them, raised); the caller's scope is read once for all of them, and
        a plain route (``Route.plain``: no process manager, no redelivery check, no
        retries) is run here, its scope left set for the next one: the caller's is
        restored once, when the loop ends (or before a route run otherwise). A unit of
        work a plain route's handler left exactly as it was built (nothing added,
        read, deleted, entered or registered) is handed to the next plain route of
        the same message instead of a new one: what that route sees is the same.
        """
        outer = _context.scope.get()
        domains = outer[0]
        if not domains or domains[-1] is not self:
            domains = (*domains, self)
        queue = outer[3]
        scope_set = _context.scope.set
        token = None
        uow = None  # a unit of work a route left as it was built: the next route's, for the same message
        try:
            for route in routes:
                try:
                    if not route.plain:
                        if token is not None:
                            _context.scope.reset(token)  # the route reads the caller's scope
                            token = uow = None
                        if route.retry_options is None:
                            self._run_route_once(route, event)
                        else:
                            self.run_route(route, event)
                        continue
                    target = route.target_cls
                    message = event if target is None or type(event) is target else route.convert(event)
                    if uow is None or uow.message is not message:
                        uow = handler_unit_of_work(self, message)
                        if token is None:
                            token = scope_set((domains, uow, message, queue))
                        else:
                            scope_set((domains, uow, message, queue))
                    # else: the scope set for the previous route is this route's already
                    handled = uow
                    try:
                        method, handler_cls = route.method, route.handler_cls  # slots: plain loads, then calls
                        method(handler_cls(), message)
                        # a unit of work the handler left untouched has nothing to commit (no call)
                        tracked = handled._tracked
                        if (
                            tracked or handled._transactions or handled._deleted
                            or handled._after_commit or handled.processed_as
                        ):
                            uow = None
                            if (  # ``handled.commit()``'s one-object case, without its frame
                                len(tracked) == 1 and not handled._transactions and not handled._deleted
                                and handled.processed_as is None and type(handled) is UnitOfWork
                            ):
                                events = commit_single(handled, handled.message)
                                if events is None:
                                    events = handled.commit()
                            else:
                                events = handled.commit()
                        else:
                            events = None
                            if handled._loaded is not None or handled._token is not None or type(handled) is not UnitOfWork:
                                uow = None  # read from, entered or started: not as built
                    except BaseException:
                        uow = None
                        handled.rollback()
                        raise
                    if events and self._inline_events:
                        if queue is not None:
                            queue.extend(events)  # dispatch.publish(events), inline
                        else:
                            if token is not None:
                                _context.scope.reset(token)
                            token = uow = None
                            dispatch.publish(events)
                except Exception as exc:
                    if failures is None:
                        raise
                    failures.append(exc)  # collected, raised when the drain ends
        finally:
            if token is not None:
                _context.scope.reset(token)

    def deliver_raw(self, stream: str, payload: dict[str, Any]) -> None:
        """Hand a raw broker payload to the subscribers of ``stream``."""
        subscribers = self.router.subscribers.get(stream)
        if not subscribers:
            return

        def run() -> None:
            with _context.domain_context(self):
                for subscriber_cls in subscribers:
                    subscriber_cls()(payload)

        dispatch.drain_after(run)

    def dispatch(self, query: Any) -> Any:
        """Answer a query with its query handler."""
        route = self.router.queries.get(type(query))
        if route is None:
            self._ensure_initialized()
            raise IncorrectUsageError(
                f"no query handler handles {type(query).__name__} in domain {self.name!r}"
            )
        handler_cls, method = route
        with _context.domain_context(self):
            return method(handler_cls(), query)
