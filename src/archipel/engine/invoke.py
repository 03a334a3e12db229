"""Running handlers for the engine: many messages, one transaction per database.

A :class:`Batch` holds the transactions of one batch. Each message runs in
its own :class:`BatchUnitOfWork` — the ordinary unit of work, except that it
writes into the batch's transactions and leaves committing to the batch
(the SQL transaction buffers writes, so a batch is one ``BEGIN`` ... ``COMMIT``).
Before a handler runs, the batch records ``(subscription, message id)`` in
the default transaction; a redelivered message is recognised there and
skipped without running its handler, and the record commits with the
handler's effects, so effects are exactly-once.

If anything fails the caller rolls the whole batch back and runs the
messages again one per batch, to find the one that fails.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from archipel.core.message import utcnow
from archipel.core.model import stamp_dates
from archipel.engine.dlq import RAW_REPLAY_KEY, replay_target
from archipel.errors import CommandExpiredError
from archipel.handling import dispatch
from archipel.handling.decoding import current_type, decode_stored
from archipel.handling.expiry import raise_if_expired
from archipel.handling.process_managers import advance_process_manager, correlation_value
from archipel.handling.unit_of_work import UnitOfWork, run_quietly
from archipel.utils.scope import scope_get, scope_reset, scope_set

log = logging.getLogger("archipel.engine.consumer")

if TYPE_CHECKING:
    from archipel.domain.domain import Domain
    from archipel.engine.subscriptions import Subscription
    from archipel.handling.dispatch import Route

__all__ = ["Batch", "BatchUnitOfWork", "Decoded", "decode", "mark_processed", "processed_among", "run_message"]


class Batch:
    """The transactions of one batch, one per database, begun on first use."""

    __slots__ = ("domain", "transactions", "events", "deferred")

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.transactions: dict[str, Any] = {}
        #: events committed by the batch's units of work (for inline dispatch)
        self.events: list[Any] = []
        #: optional work to run once the batch committed (snapshots)
        self.deferred: list[Any] = []

    def transaction(self, database: str = "default") -> Any:
        tx = self.transactions.get(database)
        if tx is None:
            tx = self.transactions[database] = self.domain.providers.database(database).begin()
        return tx

    def commit(self) -> None:
        """Commit every transaction, the default database's first (it holds the fence)."""
        transactions = self.transactions
        if len(transactions) == 1:  # the usual batch: the default database's alone
            for tx in transactions.values():
                tx.commit()
            transactions.clear()
            if self.deferred:
                actions, self.deferred = self.deferred, []
                run_quietly(actions)
            return
        order = sorted(transactions, key=lambda name: name != "default")
        for position, name in enumerate(order):
            try:
                self.transactions[name].commit()
            except BaseException:
                for later in order[position + 1 :]:
                    self.transactions[later].rollback()
                raise
        self.transactions.clear()
        if self.deferred:
            actions, self.deferred = self.deferred, []
            run_quietly(actions)

    def rollback(self) -> None:
        for tx in self.transactions.values():
            try:
                tx.rollback()
            except Exception:  # noqa: S110 - the original error matters more
                pass
        self.transactions.clear()
        self.events.clear()
        self.deferred.clear()


class BatchUnitOfWork(UnitOfWork):
    """A unit of work writing into a :class:`Batch` (which commits).

    The batch's transactions are handed out as they are (adapters recognise
    their own transaction objects, e.g. to store events in them) but never
    registered as this unit of work's own, so its commit writes into them
    without committing and its rollback leaves them to the batch.
    """

    __slots__ = ("batch",)

    def __init__(self, domain: Domain, message: Any, batch: Batch) -> None:
        UnitOfWork.__init__(self, domain, message)  # (no ``super()`` object per message)
        self.batch = batch

    def transaction(self, database: str = "default") -> Any:
        return self.batch.transaction(database)

    def after_commit(self, action: Any) -> None:
        """Run ``action()`` when the batch commits (see :meth:`UnitOfWork.after_commit`)."""
        self.batch.deferred.append(action)

    def commit(self) -> list[Any]:
        """:meth:`UnitOfWork.commit`. A projector's usual unit of work (one projection stored,
        nothing deleted, no events, not a command's) takes a shorter path with the same
        effects: its row buffered in the batch's transaction, the projection's version moved on."""
        tracked = self._tracked
        message = self.message
        if (
            len(tracked) == 1
            and not self._deleted
            and self.processed_as is None
            and not self._transactions  # (the batch's are handed out: never any of its own)
            and (message is None or message._metadata.kind != "COMMAND")
        ):
            for obj in tracked.values():
                found = self.domain._persist_plan.get(type(obj))
                values = obj.__dict__
                if found is not None and found[1] == "projection" and not values.get("_events"):
                    return self._commit_projection(obj, found[0], values)
        return UnitOfWork.commit(self)

    def _commit_projection(self, obj: Any, schema: Any, values: dict[str, Any]) -> list[Any]:
        try:
            if obj._stamps:
                stamp_dates(obj, values.get("_version", -1) == -1)
            version = values.get("_version", -1)
            self.batch.transaction(schema.database).save(schema, obj.to_dict(), version)
        except BaseException:
            self.rollback()
            raise
        values["_changed"] = False  # stored as it is now (``state_.is_changed``)
        values["_version"] = version + 1
        self._tracked.clear()
        self._loaded = None
        events: list[Any] = []
        self.committed_events = events
        if self._after_commit:
            self._run_after_commit()
        return events


class Decoded:
    """A broker payload made ready for one subscription."""

    __slots__ = ("message_id", "type", "stream", "message", "payload", "skip", "replay", "routes")

    def __init__(
        self,
        message_id: str,
        type_string: str | None,
        stream: str | None,
        message: Any,
        payload: dict[str, Any],
        skip: bool = False,
        replay: bool = False,
        routes: list[Route] | None = None,
    ) -> None:
        self.message_id = message_id
        self.type = type_string
        self.stream = stream
        self.message = message
        self.payload = payload
        #: nothing for this subscription to do (unknown type, replay for another one)
        self.skip = skip
        #: replayed from the dead-letter queue for this subscription
        self.replay = replay
        #: the subscription's routes of this message (an event's), found while decoding;
        #: None: :func:`run_message` looks them up
        self.routes = routes


def decode(domain: Domain, sub: Subscription, entry_stream: str, entry_id: str, payload: dict[str, Any]) -> Decoded:
    """Rebuild the message of a broker entry as this subscription needs it."""
    meta = payload.get("metadata")
    if meta.__class__ is dict and not meta.get("headers") and RAW_REPLAY_KEY not in payload:
        target = None  # no replay marker (``replay_target``'s answer, without its look-ups)
    else:
        target, payload = replay_target(payload)
        meta = payload.get("metadata")
    replay = target == sub.name
    kind = sub.kind
    if kind == "subscriber":
        skip = target is not None and not replay
        return Decoded(f"{entry_stream}:{entry_id}", None, None, None, payload, skip, replay)
    if not meta:
        meta = {}
    message_id = meta.get("id") or f"{entry_stream}:{entry_id}"
    if message_id.__class__ is not str:
        message_id = str(message_id)
    type_string = meta.get("type")
    stream = meta.get("stream")
    if target is not None and target != sub.name:
        return Decoded(message_id, type_string, stream, None, payload, True)
    if not type_string or stream is None:
        return Decoded(message_id, type_string, stream, None, payload, True)
    cls = domain.router.messages.get(type_string)
    # an older version of a registered message is routed as the registered one
    routed = type_string if cls is not None else current_type(domain, type_string)
    if routed is None:
        return Decoded(message_id, type_string, stream, None, payload, True)
    routes = None
    if kind == "command_handler":
        if routed not in sub.commands:
            return Decoded(message_id, routed, stream, None, payload, True)
    else:
        routes = sub.routes_for(stream.split("-", 1)[0], routed)
        if not routes:
            return Decoded(message_id, routed, stream, None, payload, True)
    if cls is not None:
        message = cls.from_message(payload)  # type: ignore[attr-defined]
    else:
        # upcast, or DeserializationError: the caller dead-letters it, never skips it
        message = decode_stored(domain, payload)
    return Decoded(message_id, routed, stream, message, payload, False, replay, routes)


def _in_uow(domain: Domain, batch: Batch, message: Any, outer: Any, method: Any, first: Any, second: Any) -> None:
    """``method(first, second)`` in a unit of work of ``batch``; ``outer``: the scope now
    (as :func:`run_message` set it). Arguments, not a closure: no cells, no function made
    per message."""
    uow = BatchUnitOfWork(domain, message, batch)
    token = scope_set((outer[0], uow, outer[2] if message is None else message, outer[3]))
    try:
        method(first, second)
        events = uow.commit()
    except BaseException:
        uow.rollback()
        raise
    finally:
        scope_reset(token)
    if events:
        batch.events.extend(events)


def _call(function: Any, argument: Any) -> None:
    function(argument)


def _run_process_manager(domain: Domain, batch: Batch, outer: Any, route: Route, message: Any) -> None:
    value = correlation_value(route.spec, message)
    if value is None:
        return
    key = str(value)
    _in_uow(domain, batch, message, outer, lambda _route, _message: advance_process_manager(domain, _route, _message, key),
            route, message)


def mark_processed(
    batch: Batch, subscription: str, message_ids: list[str], fresh: list[str] | None = None
) -> list[bool] | None:
    """Record a whole batch as processed in one call when the adapter can (``mark_processed_many``).

    Returns one flag per id (False: handled before), or None when the adapter
    only marks one message at a time (:func:`run_message` then does it).
    ``fresh``: ids known unprocessed (see :func:`processed_among`), not looked up again.
    """
    many = getattr(batch.transaction("default"), "mark_processed_many", None)
    if many is None:
        return None
    flags = many(subscription, message_ids, fresh) if fresh else many(subscription, message_ids)
    return [bool(flag) for flag in flags]


def processed_among(batch: Batch, subscription: str, message_ids: list[str]) -> set[str] | None:
    """The ids of ``message_ids`` already processed by ``subscription``, in one query; None when
    the adapter cannot say in one call (``processed_among``)."""
    among = getattr(batch.transaction("default"), "processed_among", None)
    if among is None:
        return None
    return set(among(subscription, message_ids))


def run_message(
    domain: Domain, sub: Subscription, decoded: Decoded, batch: Batch, marked: bool | None = None
) -> bool:
    """Handle one message in ``batch``; False when it was handled before (a redelivery).

    ``marked`` is the outcome of a batch-wide :func:`mark_processed` (None:
    mark it here). Exceptions from the handler propagate; the caller rolls
    the batch back.
    """
    if marked is None:
        marked = batch.transaction("default").mark_processed(sub.name, decoded.message_id)
    if not marked:
        return False
    outer = scope_get()
    domains = outer[0]
    if domains and domains[-1] is domain:
        token = None  # already the active domain (a partition's run): the scope stays as it is
    else:
        outer = ((*domains, domain), outer[1], outer[2], outer[3])
        token = scope_set(outer)
    try:
        kind = sub.kind
        if kind == "command_handler":
            command = decoded.message
            if command_expired(sub.handler_cls, command) or deadline_passed(sub.handler_cls, command):
                return True  # past its handler's ``timeout`` or its own deadline: not run (logged)
            method = sub.commands[decoded.type or ""]
            _in_uow(domain, batch, command, outer, method, sub.handler_cls(), command)
        elif kind == "subscriber":
            _in_uow(domain, batch, None, outer, _call, sub.handler_cls(), decoded.payload)
        else:
            event = decoded.message
            routes = decoded.routes
            if routes is None:
                routes = sub.routes_for((decoded.stream or "").split("-", 1)[0], decoded.type or "")
            for route in routes:
                message = route.convert(event)
                if route.kind == "process_manager":
                    _run_process_manager(domain, batch, outer, route, message)
                else:
                    _in_uow(domain, batch, message, outer, route.method, route.handler_cls(), message)
    finally:
        if token is not None:
            scope_reset(token)
    return True


def command_expired(handler_cls: type, command: Any) -> bool:
    """True (and a warning logged) when ``command`` is older than its handler's ``timeout`` option."""
    timeout = handler_cls._meta.extra.get("timeout")  # type: ignore[attr-defined]
    sent = command._metadata.time
    if timeout is None or sent is None:
        return False
    age = (utcnow() - sent).total_seconds()
    if age <= timeout:
        return False
    log.warning(
        "%s: command %s (%s) expired %.1fs after its %.1fs timeout: not run",
        f"{handler_cls.__module__}.{handler_cls.__qualname__}", command._metadata.id, command._metadata.type, age - timeout, timeout,
    )
    return True


def deadline_passed(handler_cls: type, command: Any) -> bool:
    """True (and a warning logged) when ``command``'s own deadline (``process(deadline=/timeout=)``) has passed.

    Checked when a worker picks the command up, as ``domain.process`` checks it
    at submission: a command queued past its deadline is not run.
    """
    try:
        raise_if_expired(command)
    except CommandExpiredError as exc:
        log.warning(
            "%s: command %s (%s) not run: %s",
            f"{handler_cls.__module__}.{handler_cls.__qualname__}", command._metadata.id, command._metadata.type, exc,
        )
        return True
    return False


def dispatch_inline(domain: Domain, events: list[Any]) -> None:
    """After a batch committed: deliver its events in-process when events are handled inline."""
    if events and domain.handles_events_inline:
        with domain.domain_context():
            dispatch.publish(events, wrap=False)
