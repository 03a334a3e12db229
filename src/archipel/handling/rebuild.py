"""Rebuilding a projection from the event store.

``domain.rebuild_projection(Projection)`` empties the projection's table and
replays, in global order, every stored event of the stream categories its
projectors subscribe to, through those projectors, upcasting old versions on
the way. Events are handled in batches (``batch_size``), each batch in one
unit of work and so one transaction: rows created or changed several times
in a batch are written once, new rows in bulk (``COPY`` on PostgreSQL). The
rebuild remembers every row it wrote, so a projector's ``repository.get``
of a row the rebuild has not written yet is answered without a database
read (the table was empty when it began). How batches are read, decoded,
run and written — ahead of and behind the projectors, on the SQL stores —
is :mod:`archipel.handling.replay` (with :mod:`~archipel.handling.read_ahead`,
:mod:`~archipel.handling.write_behind` and :mod:`~archipel.handling.rebuild_uow`).

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

import contextlib
import gc
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archipel.errors import IncorrectUsageError, SchemaMissingError
from archipel.fields import Float, Integer, String, Text
from archipel.handling.live_delivery import live_delivery_held
from archipel.handling.read_ahead import bulk_pages, pages, prefetched
from archipel.handling.replay import Replay
from archipel.handling.switching import quick_switching
from archipel.port.schema import ModelSchema, record_schema

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
    #: CPU seconds per thread: ``main`` (decoding, projectors), ``reader``, ``fetch`` and
    #: ``writer`` (the read-ahead thread decoding batches, the queries reading them and the
    #: write-behind thread, when the stores run them)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
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


#: databases whose table of rebuild outcomes was set up by this process
_set_up: weakref.WeakSet[Any] = weakref.WeakSet()


def _record(domain: DomainLike, name: str, **values: Any) -> None:
    schema = rebuild_schema(domain)
    database = domain.providers.database("default")
    try:
        known = database in _set_up
    except TypeError:  # no weak reference to it: set up every time
        known = False
    if known:
        try:
            _write_record(database, schema, name, values)
            return
        except SchemaMissingError:
            pass  # dropped since (drop_database): set it up again
    database.setup([schema])
    with contextlib.suppress(TypeError):
        _set_up.add(database)
    _write_record(database, schema, name, values)


def _write_record(database: Any, schema: ModelSchema, name: str, values: dict[str, Any]) -> None:
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


def _cache_of(projection_cls: Any) -> str | None:
    """The cache a projection is declared to live in (``cache="<name>"``), or None."""
    meta = getattr(projection_cls, "_meta", None)
    return meta.get("cache") if meta is not None else None


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
    cache = _cache_of(projection_cls)
    if cache:
        raise IncorrectUsageError(
            f"{projection_cls.__name__} lives in cache {cache!r}: a rebuild replays into database "
            "tables only; flush the cache (domain.cache_for(...).flush_all()) and let its "
            "projectors refill it"
        )
    name = projection_cls.__name__
    routes = projector_routes(domain, projection_cls)
    categories = list(dict.fromkeys(route.category for route in routes))
    result = RebuildResult(
        projection_name=name,
        projectors_processed=len({route.handler_cls for route in routes}),
        categories_processed=len(categories),
    )
    started = time.time()
    opening = _Opening(lambda: _record(domain, name, state="rebuilding", events=0, position=0,
                                       started_at=started, finished_at=None, error=None))
    try:
        with live_delivery_held(domain, routes) as hold:  # a running server's delivery to them waits
            _replay(domain, projection_cls, routes, categories, batch_size,
                    hold.watching(progress) if hold else progress, result, progress is not None, opening)
        opening.wait()
    except BaseException as exc:
        opening.wait(quiet=True)  # its error is the first one when it failed first
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
    head_wanted: bool,
    opening: _Opening,
) -> None:
    from archipel.adapters.sql.bulk import bulk_load, bulk_log

    schema = domain.schema_for(projection_cls)
    database = domain.providers.database(schema.database)
    database.clear([schema])
    store = domain.providers.event_store
    reader = bulk_log(store)
    # the "rebuilding" record (and, the first time, its table's setup) beside the first batches
    opening.start(background=reader is not None and reader.parallel)
    # the head is for the caller's progress only (a query reading every entry of the categories)
    head = categories_head(store, categories) if head_wanted else 0
    subscriptions = (
        sorted({f"{r.handler_cls.__module__}.{r.handler_cls.__qualname__}" for r in routes})
        if domain.outbox_enabled
        else []
    )
    if reader is None:
        batches = pages(store, categories, batch_size)
    elif reader.parallel:
        batches = prefetched(bulk_pages(reader, categories, batch_size), result.cpu_seconds)
    else:
        batches = bulk_pages(reader, categories, batch_size)
    replay = Replay(domain, projection_cls, schema, routes, bulk_load(database), subscriptions)
    # The rows the rebuild keeps alive would make every garbage collection rescan
    # them (half of the time of a large rebuild). A rebuild creates no reference
    # cycles of its own (reference counting frees its garbage), so collection
    # waits until the end.
    collecting = gc.isenabled()
    gc.disable()
    # threads read and write beside the projectors: each gets the GIL back sooner
    threaded = (reader is not None and reader.parallel) or replay.threaded
    started = time.thread_time()
    try:
        with domain.domain_context(), quick_switching() if threaded else contextlib.nullcontext():
            try:
                for after, messages in batches:
                    dispatched, skipped = replay.batch(messages)
                    result.events_dispatched += dispatched
                    result.events_skipped += skipped
                    result.position = after
                    if progress is not None:
                        progress(after, max(head, after))
            finally:
                close = getattr(batches, "close", None)
                if close is not None:
                    close()  # stops a prefetching reader
            replay.close()  # the last batch's write, and its error
    except BaseException:
        replay.close(quiet=True)  # the first error is the one to report
        raise
    finally:
        if collecting:
            gc.enable()
        result.cpu_seconds["main"] = time.thread_time() - started
        if "writer" in replay.cpu:
            result.cpu_seconds["writer"] = replay.cpu["writer"]
        if reader is not None and reader.parallel:  # the queries ran on a thread of their own
            result.cpu_seconds["fetch"] = reader.cpu_seconds


class _Opening:
    """The "rebuilding" record of a rebuild, written once its table is emptied.

    On stores that take several connections at once it is written on a
    thread while the first batches are read and replayed (the first rebuild
    of a database also sets its table up: tens of milliseconds otherwise
    spent before the first event). :meth:`wait` is called before the final
    record, so "done" or "failed" is always the last word.
    """

    def __init__(self, write: Callable[[], None]) -> None:
        self._write = write
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, background: bool) -> None:
        """Write the record, on a thread when ``background``."""
        if not background:
            self._write()
            return
        self._thread = threading.Thread(target=self._run, name="archipel-rebuild-record", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._write()
        except BaseException as exc:  # raised by wait()
            self._error = exc

    def wait(self, quiet: bool = False) -> None:
        """Wait for a record written on a thread; its error is raised unless ``quiet``."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None and not quiet:
            raise error


def categories_head(store: Any, categories: list[str]) -> int:
    """The global position of the latest event of ``categories`` (0: none, or unknown)."""
    head = getattr(store, "head", None)
    if head is None:
        return 0
    return max((int(head(category)) for category in categories), default=0)


def rebuild_all_projections(
    domain: DomainLike, batch_size: int = 500
) -> dict[str, RebuildResult]:
    """Rebuild every projection stored in a database that has projectors: ``{projection name: result}``.

    Projections declared ``cache=...`` are not rebuilt (see :func:`rebuild_projection`).
    """
    results: dict[str, RebuildResult] = {}
    for projection_cls in domain.registry.of_kind("projection").values():
        if not _cache_of(projection_cls) and projector_routes(domain, projection_cls):
            results[projection_cls.__name__] = rebuild_projection(domain, projection_cls, batch_size)
    return results
