"""The batch engine of a projection rebuild (:mod:`archipel.handling.rebuild`).

:class:`Replay` runs one batch of stored messages through a projection's
projectors in one unit of work, then writes it in one transaction. The
batches come from :mod:`archipel.handling.read_ahead` (read on a thread, a
batch ahead, on the SQL stores).

- decoding: per stored type string one builder
  (:func:`~archipel.handling.decoding.stored_builder`): the trusted
  constructor for the registered version, the upcasters for older ones; a
  message that cannot be built stops the rebuild;
- the projectors: each message in the usual handler context (the batch's
  unit of work, ``current_message``); a ``repository.get`` of a row the
  rebuild wrote is answered from memory, one it never wrote is answered
  "none" without a read (:mod:`archipel.handling.rebuild_uow`);
- writing: new rows through the database's
  :class:`~archipel.port.bulk.BulkLoad` (``COPY`` / ``executemany``), rows
  of earlier batches changed again as guarded updates, and the
  processed-message records of the projectors' subscriptions (with
  asynchronous processing), in one transaction. When the batch wrote
  nothing but rows of the projection, that transaction is sent on a writer
  thread while the next batch runs
  (:class:`~archipel.handling.write_behind.WriteBehind`); any read of the
  database by a projector first waits for it, and at most one is in flight.
  A batch of new rows only, with no processed records, is one statement of
  its own (:meth:`~archipel.port.bulk.BulkLoad.load_rows_alone`: on
  PostgreSQL a ``COPY`` without ``BEGIN``/``COMMIT`` round trips).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from archipel.core.handler import ANY
from archipel.core.model import stamp_dates
from archipel.handling.decoding import current_type, stored_builder
from archipel.handling.rebuild_uow import KNOWN_ROWS_LIMIT, RebuildUnitOfWork
from archipel.handling.write_behind import WriteBehind
from archipel.port.bulk import BulkLoad, RawMessage
from archipel.port.schema import ModelSchema
from archipel.utils.globals import scope

if TYPE_CHECKING:
    from archipel.handling.dispatch import Route
    from archipel.handling.protocols import DomainLike

__all__ = ["Replay"]

_first = itemgetter(0)


class Replay:
    """Replays batches of one projection's rebuild (see the module docstring)."""

    def __init__(
        self,
        domain: DomainLike,
        projection: Any,
        schema: ModelSchema,
        routes: list[Route],
        loader: BulkLoad | None,
        subscriptions: list[str],
    ) -> None:
        self.domain = domain
        self.projection = projection
        self.schema = schema
        self.loader = loader
        self.subscriptions = subscriptions
        self.database = domain.providers.database(schema.database)
        #: CPU seconds of the writer thread (``"writer"``), filled as batches are sent
        self.cpu: dict[str, float] = {}
        #: identity -> row object, for every row the rebuild wrote so far
        self.known: dict[Any, Any] = {}
        self.writer = WriteBehind()
        #: batches may be written on a thread behind the next one (the processed records go
        #: with the rows: one database, else the unit of work's path)
        self.threaded = (
            loader is not None and bool(getattr(loader, "parallel", False))
            and (not subscriptions or schema.database == "default")
        )
        self._table: dict[tuple[str, str], list[Route]] = {}
        for route in routes:
            specs = route.spec.target
            key = ANY if specs == ANY else domain.router.type_of(specs, route.handler_cls)
            self._table.setdefault((route.category, key), []).append(route)
        categories = {route.category for route in routes}
        #: the one category every replayed message is of (the readers filter by category)
        self._category = next(iter(categories)) if len(categories) == 1 else None
        #: stored type string (one category) or (category, type string) -> (builder or
        #: None when unhandled, handler calls, the one call's (method, handler class) when
        #: there is exactly one and it takes the message as built, else None)
        self._routes: dict[Any, tuple[Any, list[tuple[Any, type, Any]], tuple[Any, type] | None]] = {}
        #: a new row's bind values from its object's values, when the model's fields are
        #: the table's columns as they are (else None: ``to_dict()`` and the loader's conversion)
        self._row_of = self._row_maker()

    def _row_maker(self) -> Callable[[dict[str, Any]], tuple[Any, ...]] | None:
        loader = self.loader
        cls = self.projection
        if loader is None or cls._stamps or any(convert is not None for _, convert in cls._to_primitive):
            return None
        return loader.row_getter(self.schema)

    def _lookup(self, key: Any) -> tuple[Any, list[tuple[Any, type, Any]], tuple[Any, type] | None]:
        category, type_string = (self._category, key) if self._category is not None else key
        domain = self.domain
        routed = type_string if type_string in domain.router.messages else current_type(domain, type_string)
        table = self._table
        found = table.get((category, routed or "")) or table.get((category, ANY)) or []
        built = domain.router.messages.get(routed or "")
        # (method, handler class, conversion to the handler's own class or None)
        calls = [
            (route.method, route.handler_cls,
             None if route.target_cls is None or route.target_cls is built else route.convert)
            for route in found
        ]
        single = (calls[0][0], calls[0][1]) if len(calls) == 1 and calls[0][2] is None else None
        entry = (stored_builder(domain, type_string) if found else None, calls, single)
        self._routes[key] = entry
        return entry

    def batch(self, messages: list[RawMessage]) -> tuple[int, int]:
        """Replay ``messages``; return (dispatched, skipped: of no projector of this projection)."""
        known = self.known
        uow = RebuildUnitOfWork(
            self.domain, self.projection, known, len(known) < KNOWN_ROWS_LIMIT, self.writer.settle
        )
        outer = scope.get()
        domains, queue = outer[0], outer[3]
        token = scope.set((domains, uow, None, queue))
        set_scope = scope.set
        routes_of = self._routes.get
        lookup = self._lookup
        handled: list[str] = []
        note = handled.append if self.subscriptions else None
        skipped = 0
        one = self._category is not None
        try:
            for _, meta, data in messages:
                key = meta.get("type") or ""
                if not one:
                    key = ((meta.get("stream") or "").partition("-")[0], key)
                build, calls, single = routes_of(key) or lookup(key)
                if build is None:
                    skipped += 1
                    continue
                event = build(meta, data)
                if single is not None:  # one projector method (the common case)
                    set_scope((domains, uow, event, queue))  # the message being handled
                    single[0](single[1](), event)
                else:
                    for method, handler_cls, convert in calls:
                        message = event if convert is None else convert(event)
                        set_scope((domains, uow, message, queue))
                        method(handler_cls(), message)
                if note is not None:
                    note(str(meta["id"]))
            if self.threaded and self._only_rows(uow):
                self._write_behind(uow, handled)
            else:
                self.writer.settle()
                self._write(uow, handled)
        except BaseException:
            uow.rollback()
            raise
        finally:
            scope.reset(token)
        return len(messages) - skipped, skipped

    def close(self, quiet: bool = False) -> None:
        """Wait for the last write; its error is raised unless ``quiet``."""
        self.writer.close(quiet)

    def _remember(self, objects: list[Any]) -> None:
        known = self.known
        if len(known) < KNOWN_ROWS_LIMIT:
            id_field = self.schema.id_field
            for obj in objects:
                known[obj.__dict__[id_field]] = obj

    def _only_rows(self, uow: RebuildUnitOfWork) -> bool:
        """The batch changed rows of the projection and nothing else (no deletes)."""
        projection = self.projection
        return (
            uow.table_complete
            and not uow._deleted
            # the classes of the tracked keys, (class, identity), collected in C
            and set(map(_first, uow._tracked)) <= {projection}
        )

    def _write_behind(self, uow: RebuildUnitOfWork, handled: list[str]) -> None:
        """Turn the batch into plain rows and records now; send them on the writer thread."""
        rows: list[tuple[Any, ...]] = []
        inserts: list[dict[str, Any]] = []
        updates: list[tuple[dict[str, Any], int]] = []
        objects = list(uow._tracked.values())
        row_of = self._row_of
        new_row = rows.append
        known = self.known if len(self.known) < KNOWN_ROWS_LIMIT else None
        id_field = self.schema.id_field
        for obj in objects:
            values = obj.__dict__
            if known is not None:
                known[values[id_field]] = obj
            version = values.get("_version", -1)
            values["_version"] = version + 1  # what the write stores
            if version == -1:
                if row_of is not None:
                    try:
                        new_row(row_of(values))
                        continue
                    except KeyError:
                        pass  # a field its object lacks: the loader's path (NULL)
                if obj._stamps:
                    stamp_dates(obj, True)
                inserts.append(obj.to_dict())
            else:
                if obj._stamps:
                    stamp_dates(obj, False)
                updates.append((obj.to_dict(), version))
        uow._tracked.clear()
        uow.rollback()  # reads only: nothing to keep
        ids = list(handled)
        self.writer.submit(lambda: self._send(rows, inserts, updates, ids))

    def _send(self, rows: list[tuple[Any, ...]], inserts: list[dict[str, Any]],
              updates: list[tuple[dict[str, Any], int]], ids: list[str]) -> None:
        schema = self.schema
        loader: Any = self.loader
        started = time.thread_time()
        if rows and not (inserts or updates or ids):
            # new rows only (the common batch): one statement, no transaction round trips
            try:
                loader.load_rows_alone(schema, rows)
            finally:
                cpu = self.cpu
                cpu["writer"] = cpu.get("writer", 0.0) + time.thread_time() - started
            return
        tx = self.database.begin()
        try:
            for record, version in updates:
                tx.save(schema, record, version)
            if rows:
                loader.load_rows(tx, schema, rows)
            if inserts:
                loader.load(tx, schema, inserts)
            if ids:
                _mark(tx, self.subscriptions, ids)
            tx.commit()
        except BaseException:
            tx.rollback()
            raise
        finally:
            cpu = self.cpu
            cpu["writer"] = cpu.get("writer", 0.0) + time.thread_time() - started

    def _write(self, uow: RebuildUnitOfWork, handled: list[str]) -> None:
        """Commit the batch with its unit of work; new rows go through the bulk loader."""
        projection = self.projection
        tracked = uow._tracked
        written = [obj for (klass, _), obj in tracked.items() if klass is projection]
        loaded: list[Any] = []
        if self.loader is not None and written:
            loaded = [obj for obj in written if obj.__dict__.get("_version", -1) == -1]
            if loaded:
                id_field = self.schema.id_field
                for obj in loaded:
                    del tracked[(projection, obj.__dict__[id_field])]
                    if obj._stamps:
                        stamp_dates(obj, True)
                tx = uow.transaction(self.schema.database)
                self.loader.load(tx, self.schema, [obj.to_dict() for obj in loaded])
        if handled:
            _mark(uow.transaction("default"), self.subscriptions, handled)
        uow.commit()
        for obj in loaded:
            obj.__dict__["_version"] = 0
        self._remember(written)


def _mark(tx: Any, subscriptions: list[str], ids: list[str]) -> None:
    """Record ``ids`` as processed by each subscription in ``tx`` (those already recorded stay)."""
    many = getattr(tx, "mark_processed_many", None)
    for subscription in subscriptions:
        if many is not None:
            many(subscription, ids)
        else:
            for message_id in ids:
                tx.mark_processed(subscription, message_id)
