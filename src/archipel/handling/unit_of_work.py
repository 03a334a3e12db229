"""The unit of work: one business transaction.

Handlers add aggregates, projections and process-manager state through
repositories; the unit of work keeps them in an identity map and, at
``commit``, writes every record, the events the aggregates raised (with
correlation and causation ids) and, when enabled, the outbox rows, in one
transaction per database. Nothing is written when anything fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from archipel.core.message import new_message_id, utcnow
from archipel.core.model import stamp_dates
from archipel.errors import IncorrectUsageError, InvalidOperationError
from archipel.handling.dispatch import publish
from archipel.handling.single_commit import commit_single, message_causes, stamp_causes
from archipel.utils import globals as _context
from archipel.utils import tracing
from archipel.utils.globals import active_domain

if TYPE_CHECKING:
    from archipel.handling.protocols import DomainLike

__all__ = ["UnitOfWork", "handler_unit_of_work", "run_quietly", "unit_of_work"]

log = logging.getLogger("archipel.uow")


def run_quietly(actions: list[Any]) -> None:
    """Run each of ``actions``; log (never raise) what fails: they are optional work."""
    for action in actions:
        try:
            action()
        except Exception:
            log.warning("an after-commit action failed (optional work, skipped)", exc_info=True)


#: ``JOIN[0](inner, outermost)`` joins a unit of work to the active one: installed by
#: :mod:`archipel.handling.nested_uow` (a subclass's module: not importable here).
JOIN: list[Callable[[Any, Any], None]] = []


class UnitOfWork:
    """Tracks changed objects of one domain and commits them together.

    Handlers run in one automatically. Elsewhere, as in Protean::

        with UnitOfWork():               # the active domain (current_domain)
            repo = current_domain.repository_for(Account)
            repo.add(account)
        # committed here (rolled back if the block raised); its events are then
        # dispatched to the domain's sync handlers; inside another, it joins it (nested_uow)
    """

    __slots__ = (
        "domain",
        "message",
        "_tracked",
        "_loaded",
        "_deleted",
        "_transactions",
        "committed_events",
        "processed_as",
        "_after_commit",
        "_token",
    )

    #: True for a unit of work that joined an active one (:mod:`archipel.handling.nested_uow`)
    _participant = False

    def __init__(self, domain: DomainLike | None = None, message: Any = None) -> None:
        if domain is None:
            domain = active_domain()
            if domain is None:
                raise IncorrectUsageError(
                    "UnitOfWork() needs a domain: use it inside `with domain.domain_context():` "
                    "or pass it, UnitOfWork(domain)"
                )
        self.domain = domain
        self._token: Any = None
        self.message = message
        # (class, identity) -> object, in insertion order
        self._tracked: dict[tuple[type, Any], Any] = {}
        # objects read in this unit of work (identity map), saved only if added;
        # created by the first read (most handlers' units of work read nothing)
        self._loaded: dict[tuple[type, Any], Any] | None = None
        self._deleted: list[tuple[Any, Any]] | None = None  # created by the first delete
        self._transactions: dict[str, Any] = {}
        self.committed_events: list[Any] = []
        #: subscription name: when set, commit records (subscription, message id)
        #: in the same transaction and refuses a second effect of a redelivery
        self.processed_as: str | None = None
        self._after_commit: list[Any] | None = None

    def after_commit(self, action: Any) -> None:
        """Run ``action()`` once this unit of work has committed (not if it rolls back).

        For work that must not join the business transaction, such as writing
        a snapshot: an error in ``action`` is logged, never raised.
        """
        if self._after_commit is None:
            self._after_commit = []
        self._after_commit.append(action)

    def _run_after_commit(self) -> None:
        actions = self._after_commit
        if actions:
            self._after_commit = None
            run_quietly(actions)

    def _joins(self, current: Any) -> bool:
        """Join ``current``, the active unit of work, when of this domain (Protean's nesting)."""
        if current is None or current.domain is not self.domain or type(self) is not UnitOfWork:
            return False
        JOIN[0](self, current)
        return True

    # -- `uow.start()` ... `uow.commit()` (Protean's explicit form) ---------------
    def start(self) -> None:
        """Make this the active unit of work until :meth:`commit` or :meth:`rollback` (Protean's form
        of ``with UnitOfWork():``). ``InvalidOperationError`` if it is already in progress."""
        if self._token is not None:
            raise InvalidOperationError("this unit of work is already in progress")
        if type(self) is not UnitOfWork:
            raise IncorrectUsageError(f"{type(self).__name__} is run by archipel: start() is for UnitOfWork()")
        outer = _context.scope.get()
        if self._joins(outer[1]):
            return
        self._token = _context.scope.set((outer[0], self, outer[2], outer[3]))
        # its commit() and rollback() now also end it (no cost on the common path)
        self.__class__ = _StartedUnitOfWork

    def _finish(self, commit: bool, token: Any) -> list[Any]:
        """Commit (or roll back) and leave the scope ``token`` restores; then hand the
        committed events to the synchronous handlers. A failed commit rolls back."""
        events: list[Any] = []
        try:
            if commit:
                events = self.commit()
            else:
                self.rollback()
        except BaseException:
            self.rollback()
            raise
        finally:
            _context.scope.reset(token)
        if events and self.domain.handles_events_inline:
            publish(events)
        return events

    # -- `with UnitOfWork():` ---------------------------------------------------
    def __enter__(self) -> UnitOfWork:
        outer = _context.scope.get()
        if self._joins(outer[1]):
            return self
        self._token = _context.scope.set((outer[0], self, outer[2], outer[3]))
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._participant:  # joined on entry (``with`` looked this method up before)
            if exc_type is None:
                self.commit()
            else:
                self.rollback()
            return
        self._finish(exc_type is None, self._token)

    @property
    def in_progress(self) -> bool:
        """True while this unit of work is the active one (inside its ``with`` block)."""
        return _context.scope.get()[1] is self

    # -- tracking ----------------------------------------------------------
    def track(self, obj: Any, identity: Any) -> None:
        """Save ``obj`` at commit (repositories call this from ``add``)."""
        self._tracked[(type(obj), identity)] = obj

    def remember(self, obj: Any, identity: Any) -> None:
        """Keep a loaded object in the identity map (not saved unless tracked)."""
        loaded = self._loaded
        if loaded is None:
            loaded = self._loaded = {}
        loaded[(type(obj), identity)] = obj

    def tracked(self, cls: type, identity: Any) -> Any:
        """The object of ``cls`` with ``identity`` this unit of work holds, or None."""
        key = (cls, identity)
        found = self._tracked.get(key)
        if found is None and self._loaded:
            return self._loaded.get(key)
        return found

    def tracked_of(self, cls: type) -> list[Any]:
        """Every object of ``cls`` waiting to be saved."""
        return [obj for (klass, _), obj in self._tracked.items() if klass is cls]

    def delete(self, schema: Any, identity: Any) -> None:
        """Delete the object at commit (repositories call this from ``remove``)."""
        key = (schema.cls, identity)
        self._tracked.pop(key, None)
        if self._loaded:
            self._loaded.pop(key, None)
        if self._deleted is None:
            self._deleted = []
        self._deleted.append((schema, identity))
        # at once, in the transaction: later reads of this unit of work must not find it
        self.transaction(schema.database).delete(schema, identity)

    def transaction(self, database: str = "default") -> Any:
        """The open transaction on ``database`` (begun on first use)."""
        tx = self._transactions.get(database)
        if tx is None:
            providers = self.domain.providers
            # ``providers.database(name)`` raises for an unknown name; a known one, directly
            db = providers.databases.get(database)
            if db is None:
                db = providers.database(database)
            tx = self._transactions[database] = db.begin()
        return tx

    # -- commit ------------------------------------------------------------
    def commit(self) -> list[Any]:
        """Write everything in one transaction per database; return the new events."""
        message = self.message
        tracked_map = self._tracked
        if len(tracked_map) == 1 and not self._transactions and not self._deleted and self.processed_as is None:
            # one object, nothing read: the common case (subclasses hand out their own transactions)
            if type(self) is UnitOfWork:
                single = commit_single(self, message)
                if single is not None:
                    return single
        domain = self.domain
        is_command = message is not None and message._metadata.kind == "COMMAND"
        if not tracked_map and not self._deleted and self.processed_as is None and not is_command:
            # nothing to write: end any read transactions and stop here
            if self._transactions:
                for tx in self._transactions.values():
                    tx.commit()
                self._transactions.clear()
            self._loaded = None
            if self.committed_events:
                self.committed_events = []
            if self._after_commit:
                self._run_after_commit()
            return self.committed_events
        causes: tuple[Any, Any, int] | None = None  # message_causes(message), when first needed
        events: list[Any] = []
        saved: list[tuple[Any, str, dict[str, Any]]] = []
        plan = domain._persist_plan
        transactions = self._transactions
        tracked = self._tracked.values()
        try:
            if self.processed_as is not None and message is not None:
                if not self.transaction("default").mark_processed(self.processed_as, message._metadata.id):
                    from archipel.errors import DuplicateMessageError

                    raise DuplicateMessageError(
                        f"{self.processed_as} already handled message {message._metadata.id}"
                    )
            # pass 1: the events raised by tracked aggregates get their ids
            for obj in tracked:
                raised = obj.__dict__.get("_events")
                if raised:  # correlation and causation ids, and the lane (priority)
                    stamp_causes(raised, *(causes := causes or message_causes(message)), events)
            # inline projectors write their read models in this same transaction
            if events and domain.router.inline_events:
                self._run_inline_projectors(events)
            # pass 2: every tracked object is saved
            enrichers = domain.aggregate_enrichers
            for obj in tracked:
                found = plan.get(type(obj))
                if found is None:
                    schema = domain.schema_for(type(obj))  # raises a clear error
                    found = (schema, schema.kind, None)
                schema, kind, fact_cls = found
                values = obj.__dict__
                if kind == "event_sourced":
                    saved.append((obj, kind, values))
                    continue
                if obj._stamps:
                    stamp_dates(obj, values.get("_version", -1) == -1)
                if enrichers and kind == "aggregate":
                    for enrich in enrichers:
                        enrich(obj)  # audit fields, stamped just before the save
                # through transaction(): subclasses hand out their own (a batch's, a rebuild's)
                tx = transactions.get(schema.database) or self.transaction(schema.database)
                record = obj.to_dict()
                if kind == "aggregate":
                    record["_event_position"] = values["_event_position"]
                    if fact_cls is not None:
                        causes = causes or message_causes(message)
                        events.append(self._fact_event(obj, fact_cls, record, causes[0], causes[1]))
                elif kind == "process_manager":
                    record["_is_complete"] = values.get("_is_complete", False)
                    record["_correlation_id"] = values.get("_correlation_id")
                tx.save(schema, record, values.get("_version", -1))
                saved.append((obj, kind, values))
            if events and tracing.tracer is not None:
                for event in events:  # the span handling this message caused them
                    tracing.stamp(event._metadata)
            to_store = events
            if is_command:
                to_store = [message, *events]  # commands are recorded for tracing
            if to_store:
                default_tx = transactions.get("default") or self.transaction("default")
                domain.providers.event_store.append(to_store, transaction=default_tx)
            if events:
                if domain._outbox_enabled or domain._integration_broker is not None:
                    rows = domain.outbox_records(events) if domain._outbox_enabled else []
                    if domain._integration_broker is not None:
                        # integration events leave through their own rows and broker (seed 003)
                        rows += domain.integration_records(events)
                    if rows:
                        self.transaction("default").add_outbox(rows)
            for tx in transactions.values():
                tx.commit()
        except BaseException:
            self.rollback()
            raise
        for _obj, kind, values in saved:
            if values.get("_events"):
                values["_events"] = []
            values["_changed"] = False  # stored as it is now (``state_.is_changed``)
            if kind == "event_sourced":
                if "_events" in values:
                    values["_version"] = values["_event_position"]
                    continue
            values["_version"] = values.get("_version", -1) + 1
        self._tracked.clear()
        self._loaded = None
        transactions.clear()
        self.committed_events = events
        if self._after_commit:
            self._run_after_commit()
        return events

    def _run_inline_projectors(self, events: list[Any]) -> None:
        """Run ``inline=True`` projectors of this domain inside this unit of work.

        Their repository writes join the transaction, so the read model commits
        with the state and events (or not at all).
        """
        inline_routes_for = self.domain.router.inline_routes_for
        for event in events:
            meta = event._metadata
            for route in inline_routes_for(meta.stream.split("-", 1)[0], meta.type):
                message = route.convert(event)
                outer = _context.scope.get()
                token = _context.scope.set((outer[0], outer[1], message, outer[3]))
                try:
                    route.method(route.handler_cls(), message)
                finally:
                    _context.scope.reset(token)

    def _fact_event(
        self, aggregate: Any, fact_cls: type, record: dict[str, Any], correlation_id: Any, causation_id: Any
    ) -> Any:
        fact = fact_cls._from_primitive(record)  # type: ignore[attr-defined]
        meta = fact._metadata
        meta.id = new_message_id()
        meta.type = fact_cls._meta.type_string  # type: ignore[attr-defined]
        category = type(aggregate)._meta.stream_category
        meta.stream = f"{category}-fact-{aggregate._identity()}"
        meta.time = utcnow()
        meta.position = aggregate.__dict__.get("_version", -1) + 1
        meta.correlation_id = correlation_id or meta.id
        meta.causation_id = causation_id
        meta.domain = fact_cls._meta.domain_name  # type: ignore[attr-defined]
        return fact

    def rollback(self) -> None:
        """Discard everything; roll back open transactions."""
        for tx in self._transactions.values():
            try:
                tx.rollback()
            except Exception:  # noqa: S110 - the original error matters more
                pass
        self._transactions.clear()
        self._tracked.clear()
        self._deleted = None
        self._after_commit = None


_new_object = object.__new__


def handler_unit_of_work(domain: DomainLike, message: Any) -> UnitOfWork:
    """``UnitOfWork(domain, message)``, built without a constructor call.

    Every handler run makes one: calling the class costs CPython 3.11 a call
    of ``__init__`` through C (``type_call``) and a second interpreter frame;
    this is one plain function. The same state as ``__init__``'s (a test
    compares them): keep the two alike.
    """
    uow: UnitOfWork = _new_object(UnitOfWork)
    uow.domain = domain
    uow._token = None
    uow.message = message
    uow._tracked = {}
    uow._loaded = None
    uow._deleted = None
    uow._transactions = {}
    uow.committed_events = []
    uow.processed_as = None
    uow._after_commit = None
    return uow


@contextmanager
def unit_of_work(domain: DomainLike, message: Any = None) -> Iterator[UnitOfWork]:
    """Run the block in a new unit of work; commit on success, roll back on error.

    The committed events are in ``uow.committed_events`` afterwards.
    """
    uow = UnitOfWork(domain, message)
    outer = _context.scope.get()
    token = _context.scope.set(
        (outer[0], uow, outer[2] if message is None else message, outer[3])
    )
    try:
        yield uow
        uow.commit()
    except BaseException:
        uow.rollback()
        raise
    finally:
        _context.scope.reset(token)


class _StartedUnitOfWork(UnitOfWork):
    """A :class:`UnitOfWork` begun with ``start()``: ``commit()`` and ``rollback()`` also
    leave its scope and hand the committed events to the synchronous handlers."""

    __slots__ = ()

    def commit(self) -> list[Any]:
        return self._end(commit=True)

    def rollback(self) -> None:
        self._end(commit=False)

    def _end(self, commit: bool) -> list[Any]:
        self.__class__ = UnitOfWork  # type: ignore[assignment]
        token, self._token = self._token, None
        return self._finish(commit, token)
