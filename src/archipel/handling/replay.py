"""The batch engine of a projection rebuild (:mod:`archipel.handling.rebuild`).

:class:`Replay` runs one batch of stored messages through a projection's
projectors in one unit of work, then writes it in one transaction:

- reading: the event store's :class:`~archipel.port.bulk.BulkLog` when it
  has one (a batch per query, one JSON text decoded in one call), prefetched
  on a thread (:func:`prefetched`) so the database prepares batch k+1 while
  the projectors run batch k; else the ordinary ``read_category`` /
  ``read_all`` pages (:func:`pages`);
- decoding: per stored type string one builder
  (:func:`~archipel.handling.decoding.stored_builder`): the trusted
  constructor for the registered version, the upcasters for older ones; a
  message that cannot be built stops the rebuild;
- the projectors: each message in the usual handler context (the batch's
  unit of work, ``current_message``); a ``repository.get`` of a row the
  rebuild wrote is answered from memory (:class:`RebuildUnitOfWork`), one
  it never wrote is answered "none" without a read (the table was emptied);
- writing: new rows through the database's
  :class:`~archipel.port.bulk.BulkLoad` (``COPY`` / ``executemany``), rows
  of earlier batches changed again as guarded updates, and the
  processed-message records of the projectors' subscriptions (with
  asynchronous processing), in one transaction. When the batch wrote
  nothing but rows of the projection, that transaction is sent on a writer
  thread while the next batch runs (:class:`WriteBehind`); any read of the
  database by a projector first waits for it, and at most one is in flight.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from archipel.core.handler import ANY
from archipel.core.message import StoredEnvelope
from archipel.core.model import stamp_dates
from archipel.handling.decoding import current_type, stored_builder
from archipel.handling.unit_of_work import UnitOfWork
from archipel.port.bulk import BulkLoad, BulkLog, RawMessage
from archipel.port.schema import ModelSchema
from archipel.utils.globals import current_message, uow_var

if TYPE_CHECKING:
    from archipel.handling.dispatch import Route
    from archipel.handling.protocols import DomainLike

__all__ = ["KNOWN_ROWS_LIMIT", "RebuildUnitOfWork", "Replay", "WriteBehind", "bulk_pages", "pages",
           "prefetched"]

T = TypeVar("T")

#: rows a rebuild remembers to answer reads without the database; beyond, it reads
KNOWN_ROWS_LIMIT = 500_000

Page = tuple[int, list[RawMessage]]


def bulk_pages(reader: BulkLog, categories: list[str], batch_size: int) -> Iterator[Page]:
    """``(last position read, messages)`` from a bulk reader."""
    for batch in reader.batches(categories, batch_size):
        if batch:
            yield batch[-1][0], batch


def pages(store: Any, categories: list[str], batch_size: int) -> Iterator[Page]:
    """``(last position read, messages of categories)`` from the ordinary event-store port."""
    one = categories[0] if len(categories) == 1 else None
    wanted = set(categories)
    after = 0
    while True:
        page = (
            store.read_category(one, after_global=after, limit=batch_size)
            if one is not None
            else store.read_all(after_global=after, limit=batch_size)
        )
        if not page:
            return
        after = int(page[-1]["metadata"]["global_position"])
        messages: list[RawMessage] = []
        for stored in page:
            meta = stored["metadata"]
            if one is None and str(meta.get("stream") or "").split("-", 1)[0] not in wanted:
                continue
            # copies the builders may take over: envelope fields only
            envelope = (
                dict(meta) if meta.keys() <= _ENVELOPE
                else {key: value for key, value in meta.items() if key in _ENVELOPE}
            )
            messages.append((int(meta["global_position"]), envelope, dict(stored.get("data") or {})))
        yield after, messages
        if len(page) < batch_size:
            return


_ENVELOPE = frozenset(StoredEnvelope.__annotations__)

_END = object()


def prefetched(items: Iterator[T], cpu: dict[str, float] | None = None) -> Iterator[T]:
    """``items``, produced one ahead on a thread (the database works while the caller does).

    An error of the producer is raised to the consumer; a consumer that
    stops early stops the producer (it ends after the item it is producing).
    The producing thread's CPU seconds are added to ``cpu["reader"]`` when given.
    """
    slot: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: Any, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                slot.put((item, error), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        started = time.thread_time()
        try:
            for item in items:
                if cpu is not None:
                    cpu["reader"] = cpu.get("reader", 0.0) + time.thread_time() - started
                if not put(item):
                    return
                started = time.thread_time()
            put(_END)
        except BaseException as exc:  # handed to the consumer
            put(None, exc)

    thread = threading.Thread(target=produce, name="archipel-rebuild-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slot.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()


class WriteBehind:
    """Runs one write at a time on a thread; :meth:`settle` waits for it (raising its error)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def settle(self) -> None:
        """Wait for the write in flight, if any; its error is raised here."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            pending.result()

    def submit(self, write: Callable[[], None]) -> None:
        """Start ``write`` once the previous one finished."""
        self.settle()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="archipel-rebuild-writer")
        self._pending = self._pool.submit(write)

    def close(self, quiet: bool = False) -> None:
        """Wait for the last write and stop the thread; its error is raised unless ``quiet``."""
        try:
            self.settle()
        except BaseException:
            if not quiet:
                raise
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


class RebuildUnitOfWork(UnitOfWork):
    """One batch of a rebuild: remembers the rows it wrote, answers misses without reading."""

    __slots__ = ("known", "projection", "settle", "table_complete")

    def __init__(
        self,
        domain: DomainLike,
        projection: Any,
        known: dict[Any, Any],
        complete: bool,
        settle: Callable[[], None],
    ) -> None:
        super().__init__(domain, None)
        self.projection = projection
        #: identity -> row object, for every row the rebuild wrote so far
        self.known = known
        #: ``known`` holds every row of the table (it was emptied first)
        self.table_complete = complete
        #: waits for the previous batch's write (before anything reads the database)
        self.settle = settle

    def tracked(self, cls: type, identity: Any) -> Any:
        found = super().tracked(cls, identity)
        if found is None and cls is self.projection:
            found = self.known.get(identity)
        return found

    def transaction(self, database: str = "default") -> Any:
        return _Reads(super().transaction(database), self)

    def delete(self, schema: Any, identity: Any) -> None:
        super().delete(schema, identity)
        if schema.cls is self.projection:
            self.known.pop(identity, None)


class _Reads:
    """A transaction whose reads of rows the rebuild never wrote answer "none" at once,
    and whose other uses wait for the previous batch's write first."""

    __slots__ = ("_tx", "_uow")

    def __init__(self, tx: Any, uow: RebuildUnitOfWork) -> None:
        self._tx = tx
        self._uow = uow

    def get(self, schema: ModelSchema, identity: Any) -> dict[str, Any] | None:
        uow = self._uow
        if schema.cls is uow.projection and uow.table_complete and identity not in uow.known:
            return None
        uow.settle()
        return self._tx.get(schema, identity)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        self._uow.settle()
        return getattr(self._tx, name)


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
        # the processed records go with the rows: one database, or the unit of work's path
        self._parallel = (
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
        #: None when unhandled, handler calls)
        self._routes: dict[Any, tuple[Any, list[tuple[Any, type, Any]]]] = {}
        #: a new row's bind values from its object's values, when the model's fields are
        #: the table's columns as they are (else None: ``to_dict()`` and the loader's conversion)
        self._row_of = self._row_maker()

    def _row_maker(self) -> Callable[[dict[str, Any]], tuple[Any, ...]] | None:
        loader = self.loader
        cls = self.projection
        if loader is None or cls._stamps or any(convert is not None for _, convert in cls._to_primitive):
            return None
        return loader.row_getter(self.schema)

    def _lookup(self, key: Any) -> tuple[Any, list[tuple[Any, type, Any]]]:
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
        entry = (stored_builder(domain, type_string) if found else None, calls)
        self._routes[key] = entry
        return entry

    def batch(self, messages: list[RawMessage]) -> tuple[int, int]:
        """Replay ``messages``; return (dispatched, skipped: of no projector of this projection)."""
        known = self.known
        uow = RebuildUnitOfWork(
            self.domain, self.projection, known, len(known) < KNOWN_ROWS_LIMIT, self.writer.settle
        )
        uow_token = uow_var.set(uow)
        msg_token = current_message.set(None)
        set_message = current_message.set
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
                build, calls = routes_of(key) or lookup(key)
                if build is None:
                    skipped += 1
                    continue
                event = build(meta, data)
                for method, handler_cls, convert in calls:
                    message = event if convert is None else convert(event)
                    set_message(message)
                    method(handler_cls(), message)
                if note is not None:
                    note(str(meta["id"]))
            if self._parallel and self._only_rows(uow):
                self._write_behind(uow, handled)
            else:
                self.writer.settle()
                self._write(uow, handled)
        except BaseException:
            uow.rollback()
            raise
        finally:
            uow_var.reset(uow_token)
            current_message.reset(msg_token)
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
            and all(klass is projection for klass, _ in uow._tracked)
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
