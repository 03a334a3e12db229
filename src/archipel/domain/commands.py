"""Command processing of a ``Domain``: ``process`` enriches a command's
envelope, honours an idempotency key, and runs its handler in a unit of work
(or queues it for ``archipel server``)."""

from __future__ import annotations

import datetime as _dt
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from archipel.core.message import new_message_id
from archipel.domain.enrichers import Enrichers
from archipel.domain.state import DomainState
from archipel.errors import ExpectedVersionError, IncorrectUsageError, ValidationError
from archipel.handling import dispatch, idempotency
from archipel.handling.expiry import DEADLINE_HEADER, raise_if_expired, resolve_deadline
from archipel.handling.nested_uow import doom
from archipel.handling.retrying import run_with_retries
from archipel.handling.single_commit import commit_single
from archipel.handling.unit_of_work import UnitOfWork, handler_unit_of_work
from archipel.utils import clock as _clocks
from archipel.utils import globals as _context
from archipel.utils import processing as _processing
from archipel.utils import tracing
from archipel.utils.access_log import HTTP_REQUESTS, list_http_command
from archipel.utils.clock import SystemClock, clock_time
from archipel.utils.wide_events import SECURITY_LOGGER, emit_wide_event, message_ids

__all__ = ["Commands"]

_now = _dt.datetime.now
_UTC = _dt.UTC


def _validation_failed(handler_cls: type, command: Any, exc: ValidationError) -> None:
    """Protean's ``validation_failed`` security event: a command handler run by ``process``
    failed with a ``ValidationError`` (:mod:`archipel.utils.wide_events`)."""
    if SECURITY_LOGGER.isEnabledFor(logging.WARNING):
        fields = {
            "command_type": type(command)._meta.type_string,
            "handler": handler_cls.__name__,
            "error": str(exc)[:256],
        }
        emit_wide_event(SECURITY_LOGGER, "validation_failed", fields, message_ids(command) or ("", ""))


class Commands(Enrichers, DomainState):
    """Mixin of ``Domain``: ``process`` and the command hot path."""

    def process(
        self,
        command: Any,
        asynchronous: bool | None = None,
        idempotency_key: str | None = None,
        raise_on_duplicate: bool = False,
        priority: int | None = None,
        correlation_id: str | None = None,
        deadline: _dt.datetime | None = None,
        timeout: _dt.timedelta | None = None,
    ) -> Any:
        """Handle ``command``; with sync processing, return the handler's result.

        ``priority``: see :mod:`archipel.utils.processing`. ``correlation_id``:
        join an outside request's correlation (default: the message being
        handled's, else the command's own id).

        ``idempotency_key``: a caller's token for this request. The first
        ``process`` with a key records it with the result (in the ``default``
        database, in the handler's transaction); a repeat returns that result
        without handling the command again, or raises
        :class:`~archipel.errors.DuplicateCommandError` (``original_result``)
        with ``raise_on_duplicate=True``. A failed handling records nothing.
        See :mod:`archipel.handling.idempotency` for what results can be kept.

        The handler runs in a unit of work; its events are stored with the
        state in one transaction, then dispatched (sync) or left to the
        outbox for ``archipel server`` (async, which returns the command id).

        ``deadline`` (a ``datetime``; naive is UTC) or ``timeout`` (a
        ``timedelta`` from now), not both: the time after which the command must
        not run. Without either (and none inherited), ``command_default_timeout``
        (seconds, domain config) sets one, unless the handler has its own
        ``timeout`` option. It is kept in the command's metadata headers and inherited by
        the commands sent while it is handled; a command past it is refused with
        :class:`~archipel.errors.CommandExpiredError` (see
        :mod:`archipel.handling.expiry`).
        """
        route = self.router.commands.get(type(command))
        if route is None:
            self._ensure_initialized()
            raise IncorrectUsageError(
                f"{type(command).__name__} is not a command handled in domain {self.name!r}: "
                f"register it with @{self.snake_name}.command(part_of=...) and a "
                f"@{self.snake_name}.command_handler with @handle({type(command).__name__})"
            )
        outer = _context.scope.get()
        parent = outer[2]
        meta = command._metadata
        # the envelope's fields: read first (a stored envelope decodes on its first read), then
        # a field of every fresh envelope set as an attribute (a store at its known index: no
        # hash, no lookup); ``domain`` (a property) and keys not always there, in the dict
        values = meta.__dict__
        if deadline is not None or timeout is not None:
            resolved = resolve_deadline(deadline, timeout)
            command._metadata.headers[DEADLINE_HEADER] = resolved.isoformat()  # type: ignore[union-attr]
            raise_if_expired(command)
        else:
            if parent is not None:
                inherited = parent._metadata.__dict__.get("_headers")
                if inherited and DEADLINE_HEADER in inherited:
                    command._metadata.headers.setdefault(DEADLINE_HEADER, inherited[DEADLINE_HEADER])
            if values.get("_headers"):
                raise_if_expired(command)
            default_timeout = self.config.get("command_default_timeout")
            if default_timeout is not None and route[0]._meta.extra.get("timeout") is None:  # type: ignore[attr-defined]
                # Protean's domain-wide validity window, when the call and the handler give none
                headers = command._metadata.headers
                if DEADLINE_HEADER not in headers:
                    resolved = resolve_deadline(None, _dt.timedelta(seconds=default_timeout))
                    headers[DEADLINE_HEADER] = resolved.isoformat()  # type: ignore[union-attr]
        if idempotency_key is not None:
            key = idempotency.check_key(idempotency_key)
            # handlers read it as Protean's do: command._metadata.headers.idempotency_key
            command._metadata.headers["idempotency_key"] = key
            found = self._idempotency_lookup(key)
            if found[0]:
                return idempotency.stored_result(key, found, raise_on_duplicate)
        if correlation_id is not None:
            meta.correlation_id = str(correlation_id)
        # the command's envelope: id, type, stream, time, correlation and causation
        cls = type(command)
        message_id = meta.id
        if message_id is None:
            message_id = meta.id = new_message_id()
        meta.type = cls._meta.type_string
        category, identity_field = self._command_streams[cls]
        identity = command.__dict__.get(identity_field) if identity_field else None
        meta.stream = f"{category}:command-{identity or message_id}"
        if _clocks.custom_clocks and self._clock.__class__ is not SystemClock:  # a module flag first
            meta.time = clock_time(self._clock)
        else:
            meta.time = _now(_UTC)
        values["domain"] = self.name
        if priority is None:
            priority = _processing.priority_var.get()  # ``with processing_priority(...)`` / ``lanes.bulk()``
        if priority is not None:
            values["priority"] = priority
        if meta.correlation_id is None:
            if parent is not None:
                pmeta = parent._metadata
                meta.correlation_id = pmeta.correlation_id or pmeta.id
                meta.causation_id = pmeta.id
            else:
                # a request's correlation id (X-Correlation-ID, traceparent), else its own id
                meta.correlation_id = _context.current_correlation_id.get() or message_id
        if self.command_enrichers:
            self.enrich_command(command)
        if HTTP_REQUESTS[0]:  # FastAPI requests in flight: a request's wide event lists its commands
            list_http_command(command)
        queued = self._async_commands if asynchronous is None else asynchronous
        if tracing.tracer is not None:
            with tracing.produce_span(command._metadata, queued):
                return self._process_now(command, queued, route, idempotency_key, raise_on_duplicate)
        if not queued and idempotency_key is None:  # the common case, without a call more
            handler_cls, method = route
            if handler_cls._meta.extra.get("retries"):  # type: ignore[attr-defined]
                return dispatch.drain_after(self._handle_command, handler_cls, method, command, None)
            if outer[3] is None:
                return self._handle_outermost(outer, handler_cls, method, command)
            return dispatch.drain_after(self._handle_command_once, handler_cls, method, command, None)
        return self._process_now(command, queued, route, idempotency_key, raise_on_duplicate)

    def _process_now(
        self, command: Any, queued: bool, route: Any, key: str | None = None, raise_on_duplicate: bool = False
    ) -> Any:
        if queued:
            if key is None:
                return self._enqueue_command(command)
            return self._keyed(key, raise_on_duplicate, lambda: self._enqueue_command(command, key))
        handler_cls, method = route
        if key is not None:
            return self._keyed(
                key, raise_on_duplicate, lambda: self._drained(handler_cls, method, command, key)
            )
        # the outermost call owns the breadth-first queue and drains it (dispatch.drain_after)
        return dispatch.drain_after(self._handle_command, handler_cls, method, command, None)

    def _idempotency_lookup(self, key: str) -> tuple[bool, Any]:
        tx = self.providers.database("default").begin()
        try:
            return idempotency.lookup(tx, self._idempotency_schema, key)
        finally:
            tx.rollback()

    def _keyed(self, key: str, raise_on_duplicate: bool, run: Callable[[], Any]) -> Any:
        """Run ``run``; when a racing twin stored ``key`` first, answer with its result."""
        try:
            return run()
        except ExpectedVersionError:
            found = self._idempotency_lookup(key)
            if not found[0]:
                raise
            return idempotency.stored_result(key, found, raise_on_duplicate)

    def _drained(
        self, handler_cls: type, method: Callable[..., Any], command: Any, key: str | None
    ) -> Any:
        # the outermost call owns the breadth-first queue and drains it
        return dispatch.drain_after(self._handle_command, handler_cls, method, command, key)

    def _handle_command(
        self, handler_cls: type, method: Callable[..., Any], command: Any, key: str | None = None
    ) -> Any:
        options = handler_cls._meta.extra  # type: ignore[attr-defined]
        if options.get("retries"):  # ``retries=N``: transient failures are run again
            return run_with_retries(
                options, lambda: self._handle_command_once(handler_cls, method, command, key)
            )
        return self._handle_command_once(handler_cls, method, command, key)

    def _handle_outermost(
        self, outer: _context.Scope, handler_cls: type, method: Callable[..., Any], command: Any
    ) -> Any:
        """``drain_after(_handle_command_once, ...)`` of a call that owns the dispatch queue
        (the outermost ``process``), with one scope set for both: the drain runs in the
        command's scope (the routes set their own domain, unit of work and message)."""
        domains = outer[0]
        if not domains or domains[-1] is not self:
            domains = (*domains, self)
        current = outer[1]
        if current is not None and current.domain is self:
            return self._handle_joined(current, (domains, current, command, None), handler_cls, method, command, None)
        uow = handler_unit_of_work(self, command)
        queue: deque[Any] = deque()
        token = _context.scope.set((domains, uow, command, queue))
        try:
            try:
                result = method(handler_cls(), command)
                if (  # ``uow.commit()``'s one-object case (most handlers'), without its frame
                    len(uow._tracked) == 1 and not uow._transactions and not uow._deleted
                    and uow.processed_as is None and type(uow) is UnitOfWork
                ):
                    events = commit_single(uow, uow.message)
                    if events is None:
                        events = uow.commit()
                else:
                    events = uow.commit()
            except BaseException as exc:
                uow.rollback()
                if isinstance(exc, ValidationError):
                    _validation_failed(handler_cls, command, exc)
                raise
            if events and self._inline_events:
                queue.extend(events)  # dispatch.publish(events), inline
            if queue:
                dispatch.drain(queue)
            return result
        finally:
            _context.scope.reset(token)

    def _handle_command_once(
        self, handler_cls: type, method: Callable[..., Any], command: Any, key: str | None = None
    ) -> Any:
        # context managers are inlined: this is the hot path. One scope set for the
        # domain (when not already the innermost), the unit of work and the message
        outer = _context.scope.get()
        domains = outer[0]
        if not domains or domains[-1] is not self:
            domains = (*domains, self)
        queue = outer[3]
        current = outer[1]
        if current is not None and current.domain is self:
            return self._handle_joined(current, (domains, current, command, queue), handler_cls, method, command, key)
        uow = handler_unit_of_work(self, command)
        token = _context.scope.set((domains, uow, command, queue))
        try:
            result = method(handler_cls(), command)
            if key is not None:  # the key commits with the handler's state, or not at all
                idempotency.record(
                    uow.transaction("default"), self._idempotency_schema, key, result, self._idempotency_ttl
                )
            events = uow.commit()
        except BaseException as exc:
            uow.rollback()
            if isinstance(exc, ValidationError):
                _validation_failed(handler_cls, command, exc)
            raise
        finally:
            _context.scope.reset(token)
        if events and self._inline_events:
            if queue is not None:  # dispatch.publish(events), inline: queued for the outermost drain
                queue.extend(events)
            else:
                dispatch.publish(events)
        return result

    def _handle_joined(
        self, current: Any, scope: _context.Scope, handler_cls: type, method: Callable[..., Any],
        command: Any, key: str | None,
    ) -> Any:
        """A command processed synchronously inside an active unit of work of this domain runs
        in that one (Protean's nesting, :mod:`archipel.handling.nested_uow`): it commits with
        it, and its failure dooms it. Events raised here name this command as their cause
        (stamped when raised, as in Protean)."""
        token = _context.scope.set(scope)
        try:
            result = method(handler_cls(), command)
            default_tx = current.transaction("default")
            if key is not None:
                idempotency.record(default_tx, self._idempotency_schema, key, result, self._idempotency_ttl)
            # recorded as its own unit of work would have (before its events: they come at commit)
            self.providers.event_store.append([command], transaction=default_tx)
        except BaseException as exc:
            doom(current)
            if isinstance(exc, ValidationError):
                _validation_failed(handler_cls, command, exc)
            raise
        finally:
            _context.scope.reset(token)
        return result

    def _enqueue_command(self, command: Any, idempotency_key: str | None = None) -> str:
        from archipel.handling.asynchronous import enqueue_command

        return enqueue_command(self, command, idempotency_key)

