"""Rebuilding a projection from the event store.

``domain.rebuild_projection(Projection)`` empties the projection's table and
replays, in global order, every stored event of the stream categories its
projectors subscribe to, through those projectors, upcasting old versions on
the way. Events are handled in batches (``batch_size``), each batch in one
unit of work and so one transaction: rows created or changed several times
in a batch are written once, new rows in one multi-row insert. The
rebuild's unit of work also remembers every row it wrote, so a projector's
``repository.get`` of a row the rebuild has not written yet is answered
without a database read (the table was empty when it began).

An event that cannot be decoded, or a projector that raises, stops the
rebuild with the error (never skipped: the table would silently differ from
the events). Rebuilding twice gives the same rows.

With asynchronous event processing, every replayed event is also recorded
as processed by the projector's subscription, in the same transaction:
when ``archipel server`` resumes (stop it, or the workers running the
projector, during a rebuild), entries still on the broker that the rebuild
already applied are recognised and skipped, and later ones are applied
once. See docs/guide.md, "Rebuilding projections".

The outcome (events, position reached, duration, error) is kept per
projection in ``archipel_<domain>_projection_rebuilds`` for
``archipel projection status``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archipel.core.handler import ANY
from archipel.core.model import stamp_dates
from archipel.errors import IncorrectUsageError, SchemaMissingError
from archipel.fields import Float, Integer, String, Text
from archipel.handling.decoding import current_type, stored_builder
from archipel.handling.unit_of_work import UnitOfWork
from archipel.port.bulk import BulkLoad, BulkLog, RawMessage
from archipel.port.schema import ModelSchema, record_schema
from archipel.utils.globals import current_message, uow_var

if TYPE_CHECKING:
    from archipel.handling.dispatch import Route
    from archipel.handling.protocols import DomainLike

__all__ = [
    "RebuildResult",
    "categories_head",
    "projection_categories",
    "projector_routes",
    "rebuild_all_projections",
    "rebuild_projection",
    "rebuild_records",
    "rebuild_schema",
]

#: rows a rebuild remembers to answer reads without the database; beyond, it reads
KNOWN_ROWS_LIMIT = 500_000


@dataclass
class RebuildResult:
    """What one projection rebuild did."""

    projection_name: str
    projectors_processed: int = 0
    categories_processed: int = 0
    #: events read from the store and handed to at least one projector
    events_dispatched: int = 0
    #: events of the categories no projector of this projection handles
    events_skipped: int = 0
    #: the global position of the last event read
    position: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        """True when the rebuild completed without errors."""
        return not self.errors



def rebuild_schema(domain: DomainLike) -> ModelSchema:
    """The table of rebuild outcomes, one row per projection."""
    return record_schema(
        "ProjectionRebuild",
        f"archipel_{domain.snake_name}_projection_rebuilds",
        id=String(identifier=True, max_length=255),
        state=String(max_length=20),
        events=Integer(),
        position=Integer(),
        started_at=Float(),
        finished_at=Float(),
        error=Text(),
    )


def _record(domain: DomainLike, name: str, **values: Any) -> None:
    schema = rebuild_schema(domain)
    database = domain.providers.database("default")
    database.setup([schema])
    tx = database.begin()
    try:
        found = tx.get(schema, name)
        record = {k: v for k, v in (found or {}).items() if k != "_version"}
        record.update(id=name, **values)
        tx.save(schema, record, found.get("_version", 0) if found else -1)
        tx.commit()
    except BaseException:
        tx.rollback()
        raise


def rebuild_records(domain: DomainLike) -> dict[str, dict[str, Any]]:
    """The last rebuild outcome of each projection, by projection name (creates no table)."""
    from archipel.core.queryset import Criteria

    schema = rebuild_schema(domain)
    tx = domain.providers.database("default").begin()
    try:
        rows, _ = tx.query(schema, Criteria())
    except SchemaMissingError:
        rows = []  # only reads: no rebuild ever ran here
    finally:
        tx.commit()
    return {str(row["id"]): row for row in rows}


def _projection(domain: DomainLike, projection_cls: Any) -> Any:
    registered = domain.registry.of_kind("projection").get(getattr(projection_cls, "__name__", ""))
    if registered is None or registered is not projection_cls:
        raise IncorrectUsageError(
            f"{getattr(projection_cls, '__name__', projection_cls)} is not a projection registered "
            f"with domain {domain.name!r}"
        )
    return projection_cls


def projector_routes(domain: DomainLike, projection_cls: Any) -> list[Route]:
    """The routes of every projector writing ``projection_cls`` (inline ones included)."""
    _projection(domain, projection_cls)
    return [
        route
        for route in domain.router.routes
        if route.kind == "projector" and route.handler_cls._meta.get("projector_for") is projection_cls  # type: ignore[attr-defined]
    ]


def projection_categories(domain: DomainLike, projection_cls: Any) -> list[str]:
    """The stream categories the projection's projectors read, in declaration order."""
    return list(dict.fromkeys(route.category for route in projector_routes(domain, projection_cls)))


class _RebuildUnitOfWork(UnitOfWork):
    """One batch of a rebuild: remembers the rows it wrote, answers misses without reading."""

    __slots__ = ("known", "projection", "table_complete")

    def __init__(self, domain: DomainLike, projection: Any, known: dict[Any, Any], complete: bool) -> None:
        super().__init__(domain, None)
        self.projection = projection
        #: identity -> row object, for every row the rebuild wrote so far
        self.known = known
        #: ``known`` holds every row of the table (it was emptied first)
        self.table_complete = complete

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
    """A transaction whose reads of rows the rebuild never wrote answer "none" at once."""

    __slots__ = ("_tx", "_uow")

    def __init__(self, tx: Any, uow: _RebuildUnitOfWork) -> None:
        self._tx = tx
        self._uow = uow

    def get(self, schema: ModelSchema, identity: Any) -> dict[str, Any] | None:
        uow = self._uow
        if schema.cls is uow.projection and uow.table_complete and identity not in uow.known:
            return None
        return self._tx.get(schema, identity)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


def rebuild_projection(
    domain: DomainLike,
    projection_cls: Any,
    batch_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
) -> RebuildResult:
    """Empty ``projection_cls``'s table and replay its categories through its projectors.

    ``progress(position, head)`` is called after each batch (global
    positions; ``head`` is the store's size when it can tell, else 0).
    Errors propagate after being recorded for ``projection status``.
    """
    _projection(domain, projection_cls)
    if batch_size < 1:
        raise IncorrectUsageError(f"batch_size={batch_size}: give a positive number of events")
    name = projection_cls.__name__
    routes = projector_routes(domain, projection_cls)
    categories = list(dict.fromkeys(route.category for route in routes))
    result = RebuildResult(
        projection_name=name,
        projectors_processed=len({route.handler_cls for route in routes}),
        categories_processed=len(categories),
    )
    started = time.time()
    _record(domain, name, state="rebuilding", events=0, position=0, started_at=started,
            finished_at=None, error=None)
    try:
        _replay(domain, projection_cls, routes, categories, batch_size, progress, result)
    except BaseException as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")
        result.seconds = time.time() - started
        _record(domain, name, state="failed", events=result.events_dispatched,
                position=result.position, finished_at=time.time(), error=result.errors[-1])
        raise
    result.seconds = time.time() - started
    _record(domain, name, state="done", events=result.events_dispatched, position=result.position,
            finished_at=time.time(), error=None)
    return result


def _replay(
    domain: DomainLike,
    projection_cls: Any,
    routes: list[Route],
    categories: list[str],
    batch_size: int,
    progress: Callable[[int, int], None] | None,
    result: RebuildResult,
) -> None:
    schema = domain.schema_for(projection_cls)
    database = domain.providers.database(schema.database)
    database.clear([schema])
    table: dict[tuple[str, str], list[Route]] = {}
    for route in routes:
        specs = route.spec.target
        key = ANY if specs == ANY else domain.router.type_of(specs, route.handler_cls)
        table.setdefault((route.category, key), []).append(route)
    store = domain.providers.event_store
    head = categories_head(store, categories)
    subscriptions = (
        sorted({f"{r.handler_cls.__module__}.{r.handler_cls.__qualname__}" for r in routes})
        if domain.outbox_enabled
        else []
    )
    from archipel.adapters.sql.bulk import bulk_load, bulk_log

    reader = bulk_log(store)
    pages = (
        _bulk_pages(reader, categories, batch_size)
        if reader is not None
        else _pages(store, categories, batch_size)
    )
    plan = _Plan(domain, projection_cls, schema, table, bulk_load(database), subscriptions)
    # The rows the rebuild keeps alive would make every garbage collection rescan
    # them (half of the time of a large rebuild). A rebuild creates no reference
    # cycles of its own (reference counting frees its garbage), so collection
    # waits until the end.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with domain.domain_context():
            for after, messages in pages:
                plan.batch(messages, result)
                result.position = after
                if progress is not None:
                    progress(after, max(head, after))
    finally:
        if collecting:
            gc.enable()


def _bulk_pages(reader: BulkLog, categories: list[str], batch_size: int) -> Iterator[tuple[int, list[RawMessage]]]:
    for batch in reader.batches(categories, batch_size):
        if batch:
            yield batch[-1][0], batch


def _pages(store: Any, categories: list[str], batch_size: int) -> Iterator[tuple[int, list[RawMessage]]]:
    """The ordinary port's pages as ``(last position read, messages of categories)``."""
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
            messages.append((int(meta["global_position"]), meta, stored.get("data") or {}))
        yield after, messages
        if len(page) < batch_size:
            return


class _Plan:
    """Runs the batches of one rebuild: decodes, runs the projectors, writes the rows."""

    def __init__(
        self,
        domain: DomainLike,
        projection: Any,
        schema: ModelSchema,
        table: dict[tuple[str, str], list[Route]],
        loader: BulkLoad | None,
        subscriptions: list[str],
    ) -> None:
        self.domain = domain
        self.projection = projection
        self.schema = schema
        self.table = table
        self.loader = loader
        self.subscriptions = subscriptions
        #: identity -> row object, for every row the rebuild wrote so far
        self.known: dict[Any, Any] = {}
        #: (category, stored type string) -> (builder, routes); routes empty: not handled
        self._routes: dict[tuple[str, str], tuple[Any, list[Route]]] = {}

    def _lookup(self, category: str, type_string: str) -> tuple[Any, list[Route]]:
        domain = self.domain
        routed = type_string if type_string in domain.router.messages else current_type(domain, type_string)
        found = self.table.get((category, routed or "")) or self.table.get((category, ANY)) or []
        entry = (stored_builder(domain, type_string) if found else None, found)
        self._routes[(category, type_string)] = entry
        return entry

    def batch(self, messages: list[RawMessage], result: RebuildResult) -> None:
        """Replay ``messages`` in one unit of work and one transaction."""
        known = self.known
        uow = _RebuildUnitOfWork(self.domain, self.projection, known, len(known) < KNOWN_ROWS_LIMIT)
        uow_token = uow_var.set(uow)
        msg_token = current_message.set(None)
        set_message = current_message.set
        routes_of = self._routes
        lookup = self._lookup
        handled: list[str] = []
        note = handled.append if self.subscriptions else None
        dispatched = skipped = 0
        try:
            for _, meta, data in messages:
                type_string = meta.get("type") or ""
                category = (meta.get("stream") or "").split("-", 1)[0]
                entry = routes_of.get((category, type_string)) or lookup(category, type_string)
                build, routes = entry
                if build is None:
                    skipped += 1
                    continue
                event = build(meta, data)
                for route in routes:
                    message = route.convert(event)
                    set_message(message)
                    route.method(route.handler_cls(), message)
                dispatched += 1
                if note is not None:
                    note(str(meta["id"]))
            written = self._write(uow, handled)
        except BaseException:
            uow.rollback()
            raise
        finally:
            uow_var.reset(uow_token)
            current_message.reset(msg_token)
        if len(known) < KNOWN_ROWS_LIMIT:
            id_field = self.schema.id_field
            for obj in written:
                known[obj.__dict__[id_field]] = obj
        result.events_dispatched += dispatched
        result.events_skipped += skipped

    def _write(self, uow: _RebuildUnitOfWork, handled: list[str]) -> list[Any]:
        """Commit the batch; new rows of the projection go through the bulk loader."""
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
            _mark(uow, self.subscriptions, handled)
        uow.commit()
        for obj in loaded:
            obj.__dict__["_version"] = 0
        return written


def categories_head(store: Any, categories: list[str]) -> int:
    """The global position of the latest event of ``categories`` (0: none, or unknown)."""
    head = getattr(store, "head", None)
    if head is None:
        return 0
    return max((int(head(category)) for category in categories), default=0)


def _mark(uow: UnitOfWork, subscriptions: list[str], ids: list[str]) -> None:
    tx = uow.transaction("default")
    many = getattr(tx, "mark_processed_many", None)
    for subscription in subscriptions:
        if many is not None:
            many(subscription, ids)
        else:
            for message_id in ids:
                tx.mark_processed(subscription, message_id)


def rebuild_all_projections(
    domain: DomainLike, batch_size: int = 500
) -> dict[str, RebuildResult]:
    """Rebuild every projection that has projectors: ``{projection name: result}``."""
    results: dict[str, RebuildResult] = {}
    for projection_cls in domain.registry.of_kind("projection").values():
        if projector_routes(domain, projection_cls):
            results[projection_cls.__name__] = rebuild_projection(domain, projection_cls, batch_size)
    return results
