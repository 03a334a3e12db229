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
as processed by the projector's subscription, in the same transaction, and
live delivery to the projectors waits meanwhile (a running ``archipel
server``'s leases are held, :mod:`archipel.engine.rebuild_hold`): when it
resumes, entries on the broker that the rebuild already applied are
recognised and skipped, and later ones are applied once. See
docs/guide.md, "Rebuilding projections".

The outcome (events, position reached, duration, error) is kept per
projection in ``archipel_<domain>_projection_rebuilds`` for
``archipel projection status``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archipel.core.handler import ANY
from archipel.errors import IncorrectUsageError, SchemaMissingError
from archipel.fields import Float, Integer, String, Text
from archipel.handling.decoding import current_type, decode_stored
from archipel.handling.unit_of_work import UnitOfWork
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
    from archipel.engine.rebuild_hold import hold_live_delivery

    try:
        with hold_live_delivery(domain, routes) as hold:  # a running server's delivery to them waits
            _replay(domain, projection_cls, routes, categories, batch_size,
                    hold.watching(progress) if hold else progress, result)
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
    domain.providers.database(schema.database).clear([schema])
    table: dict[tuple[str, str], list[Route]] = {}
    for route in routes:
        specs = route.spec.target
        key = ANY if specs == ANY else domain.router.type_of(specs, route.handler_cls)
        table.setdefault((route.category, key), []).append(route)
    wanted = set(categories)
    one = categories[0] if len(categories) == 1 else None
    store = domain.providers.event_store
    head = categories_head(store, categories)
    subscriptions = (
        sorted({f"{r.handler_cls.__module__}.{r.handler_cls.__qualname__}" for r in routes})
        if domain.outbox_enabled
        else []
    )
    messages = domain.router.messages
    known: dict[Any, Any] = {}
    # The rows the rebuild keeps alive would make every garbage collection rescan
    # them (half of the time of a large rebuild). A rebuild creates no reference
    # cycles of its own (reference counting frees its garbage), so collection
    # waits until the end.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _batches(domain, store, projection_cls, schema, one, batch_size, table, wanted, messages,
                 known, subscriptions, head, progress, result)
    finally:
        if collecting:
            gc.enable()


def _batches(
    domain: DomainLike,
    store: Any,
    projection_cls: Any,
    schema: ModelSchema,
    one: str | None,
    batch_size: int,
    table: dict[tuple[str, str], list[Route]],
    wanted: set[str],
    messages: dict[str, type],
    known: dict[Any, Any],
    subscriptions: list[str],
    head: int,
    progress: Callable[[int, int], None] | None,
    result: RebuildResult,
) -> None:
    after = 0
    with domain.domain_context():
        while True:
            page = (
                store.read_category(one, after_global=after, limit=batch_size)
                if one is not None
                else store.read_all(after_global=after, limit=batch_size)
            )
            if not page:
                break
            after = int(page[-1]["metadata"]["global_position"])
            uow = _RebuildUnitOfWork(domain, projection_cls, known, len(known) < KNOWN_ROWS_LIMIT)
            uow_token = uow_var.set(uow)
            msg_token = current_message.set(None)
            handled: list[str] = []
            try:
                for stored in page:
                    meta = stored["metadata"]
                    category = str(meta.get("stream") or "").split("-", 1)[0]
                    if category not in wanted:
                        continue
                    type_string = str(meta.get("type") or "")
                    cls = messages.get(type_string)
                    routed = type_string if cls is not None else current_type(domain, type_string)
                    found = table.get((category, routed or "")) or table.get((category, ANY))
                    if not found:
                        result.events_skipped += 1
                        continue
                    event = cls.from_message(stored) if cls is not None else decode_stored(domain, stored)  # type: ignore[attr-defined]
                    for route in found:
                        message = route.convert(event)
                        current_message.set(message)
                        route.method(route.handler_cls(), message)
                    handled.append(str(meta["id"]))
                if handled and subscriptions:
                    _mark(uow, subscriptions, handled)
                written = [obj for (klass, _), obj in uow._tracked.items() if klass is projection_cls]
                uow.commit()
            except BaseException:
                uow.rollback()
                raise
            finally:
                uow_var.reset(uow_token)
                current_message.reset(msg_token)
            if len(known) < KNOWN_ROWS_LIMIT:
                for obj in written:
                    known[obj.__dict__[schema.id_field]] = obj
            result.events_dispatched += len(handled)
            result.position = after
            if progress is not None:
                progress(after, max(head, after))
            if len(page) < batch_size:
                break


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
