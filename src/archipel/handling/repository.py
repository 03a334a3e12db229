"""Repositories: load and save aggregates and projections through the unit of work.

Inside a handler, ``add`` only registers the object with the active unit of
work (one transaction at the end). Outside any unit of work, ``add`` runs a
unit of work of its own, commits, and dispatches the events it produced.
Reads see the unit of work's own changes (identity map first).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from archipel.core.options import ElementOptions
from archipel.core.query_names import check_criteria
from archipel.core.queryset import DEFAULT_LIMIT, Criteria, QuerySet, ResultSet
from archipel.errors import IncorrectUsageError, ObjectNotFound, TooManyObjects, ValidationError
from archipel.fields.base import FieldError
from archipel.fields.simple import Identifier
from archipel.handling.dao import DataAccess
from archipel.utils.query import Q
from archipel.utils.scope import scope_get

if TYPE_CHECKING:
    from archipel.handling.protocols import DomainLike
    from archipel.port.schema import ModelSchema

__all__ = ["BaseRepository", "Repository", "ReadOnlyRepository"]

T = TypeVar("T")

class BaseRepository(Generic[T]):
    """Base class of repositories; subclass it to add domain-specific finders.

    Register custom repositories with ``@domain.repository(part_of=Aggregate)``;
    ``domain.repository_for(Aggregate)`` then returns an instance of it.
    """

    _element_kind = "repository"
    _meta: ElementOptions = ElementOptions("repository", "BaseRepository")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # each repository class has its own options (``part_of``) for the registry
        cls._meta = ElementOptions(cls._element_kind, cls.__name__)

    def __init__(self, domain: DomainLike, cls: type[T], schema: ModelSchema) -> None:
        self.domain = domain
        self.cls = cls
        self.schema = schema
        self._load = cls._from_primitive  # type: ignore[attr-defined]
        self._id_field = schema.id_field
        # identities given to ``get`` are converted to their stored form (a UUID to
        # text, "12" to 12 for an integer identity); text passes through untouched
        # when the identity is stored as text, the common case
        id_field = schema.fields.get(schema.id_field)
        self._id_field_obj = id_field
        self._cast_text_ids = id_field is not None and not (
            isinstance(id_field, Identifier) and id_field.identity_type == "string"
        )
        self._database_name = schema.database
        #: (database, its ``reads()``) of the last read outside a unit of work
        self._outside: tuple[Any, Any] = (None, None)
        meta = getattr(cls, "_meta", None)
        #: records a query returns by default (the element's ``limit`` option; None: all)
        self._limit: int | None = meta.get("limit", DEFAULT_LIMIT) if meta is not None else DEFAULT_LIMIT
        #: the sort of a query that names none (a projection's ``order_by`` option)
        self._order_by: tuple[str, ...] = meta.get("order_by", ()) if meta is not None else ()

    # -- unit of work plumbing ---------------------------------------------
    def _uow(self) -> Any:
        uow = scope_get()[1]
        if uow is not None and uow.domain is self.domain:
            return uow
        return None

    def _read_tx(self) -> Any:
        uow = self._uow()
        if uow is not None:
            return uow.transaction(self.schema.database)  # sees the unit of work's writes
        return self._reads_outside()

    def _reads_outside(self) -> Any:
        """Where reads outside a unit of work go: one statement each, committed data only.

        A provider's ``reads()`` object serves every read (the port's promise), so it is
        kept with the database it came from, and asked for again only when the domain's
        database of that name is another object (the domain was shut down and started).
        """
        database = self.domain.providers.databases.get(self._database_name)
        cached = self._outside
        if database is not None and cached[0] is database:
            return cached[1]
        database = self.domain.providers.database(self._database_name)  # names what is missing
        reads = getattr(database, "reads", None)
        if reads is None:
            return database.begin()  # a provider without shared reads: a transaction per read
        self._outside = (database, reads())
        return self._outside[1]

    def _rebuild(self, record: dict[str, Any]) -> T:
        obj = self._load(record)
        values = obj.__dict__
        values["_version"] = record.get("_version", 0)
        position = record.get("_event_position")
        if position is not None:
            values["_event_position"] = position
        return obj  # type: ignore[no-any-return]

    # -- writing -----------------------------------------------------------
    def add(self, obj: T) -> T:
        """Save ``obj`` (new or changed) with the active unit of work."""
        if not isinstance(obj, self.cls):
            raise TypeError(f"{type(self).__name__} stores {self.cls.__name__}, not {type(obj).__name__}")
        identity = obj.__dict__[self._id_field]
        uow = scope_get()[1]  # as _uow(), inline: on every handler's path
        if uow is not None and uow.domain is self.domain:
            uow._tracked[(type(obj), identity)] = obj  # uow.track(obj, identity), inline
            return obj
        # outside a unit of work: one of its own (a separate function: a lambda here would
        # give every call of ``add`` two closure cells)
        _add_alone(self.domain, obj, identity)
        return obj

    def remove(self, obj: T) -> None:
        """Delete ``obj`` (its ``state_.is_destroyed`` is True from now on)."""
        identity = obj.__dict__[self._id_field]
        obj.__dict__["_destroyed"] = True
        uow = self._uow()
        if uow is not None:
            uow.delete(self.schema, identity)
            return
        self.domain.run_in_unit_of_work(lambda u: u.delete(self.schema, identity))

    # -- reading -----------------------------------------------------------
    def _stored_identity(self, identity: Any) -> Any:
        """``identity`` as stored; a value no identity can be (a dict, a list...) is a ValidationError.

        A scalar the field cannot cast (``"twelve"`` for an integer identity),
        or None, matches nothing (as in Protean: ``get(None)`` is ObjectNotFoundError); a structure (from a request body) is the caller's
        error: 400 over HTTP, never a crash in the identity map.
        """
        field = self._id_field_obj
        if field is None:
            try:
                hash(identity)
            except TypeError:
                raise self._bad_identity(identity) from None
            return identity
        try:
            return field.cast(identity)
        except FieldError:
            if identity is None or isinstance(identity, str | int | float | uuid.UUID):
                return identity  # a scalar of the wrong form (or None) matches nothing
            raise self._bad_identity(identity) from None

    def _bad_identity(self, identity: Any) -> ValidationError:
        # the value itself is not echoed: it comes from a request and may be large
        return ValidationError(
            {self._id_field: [f"is not a valid {self.cls.__name__} identity ({type(identity).__name__})"]}
        )

    def get_or_none(self, identity: Any) -> T | None:
        """The object with this identity, or None."""
        if type(identity) is not str or self._cast_text_ids:
            identity = self._stored_identity(identity)
        uow = scope_get()[1]  # as _uow(), inline: the path of every read by identity
        if uow is None or uow.domain is not self.domain:
            record = self._reads_outside().get(self.schema, identity)
            return None if record is None else self._rebuild(record)
        tracked = uow.tracked(self.cls, identity)
        if tracked is not None:
            return tracked  # type: ignore[no-any-return]
        record = uow.transaction(self.schema.database).get(self.schema, identity)
        if record is None:
            return None
        obj = self._rebuild(record)
        uow.remember(obj, identity)
        return obj

    def get(self, identity: Any, *, at_version: int | None = None, as_of: Any = None) -> T:
        """The object with this identity; ``ObjectNotFound`` when there is none.

        ``at_version``/``as_of`` (history) are for event-sourced aggregates
        only; here they raise ``IncorrectUsageError``.
        """
        if at_version is not None or as_of is not None:
            raise IncorrectUsageError(
                f"{self.cls.__name__} is not event-sourced: it keeps only its current state, so "
                "get(at_version=...)/get(as_of=...) cannot rebuild a past one (declare the "
                "aggregate with is_event_sourced=True to keep its history)"
            )
        obj = self.get_or_none(identity)
        if obj is None:
            raise ObjectNotFound(
                f"{self.cls.__name__} with {self._id_field}={identity!r} does not exist"
            )
        return obj

    def exists(self, identity: Any) -> bool:
        """True when an object matches: ``identity`` is an identity, or a ``Q``
        (Protean's ``exists(criteria)``)."""
        if isinstance(identity, Q):
            return bool(self._run(Criteria(identity, limit=1)).items)
        return self.get_or_none(identity) is not None

    def _run(self, criteria: Criteria) -> ResultSet[T]:
        if criteria.q.children or criteria.order_by:
            check_criteria(self.cls, criteria.q, criteria.order_by)  # an unknown name never matches nothing
        records, total = self._read_tx().query(self.schema, criteria)
        items = [self._rebuild(r) for r in records]
        uow = self._uow()
        if uow is not None:
            items, total = self._overlay(uow, criteria, items, total)
        return ResultSet(items, total, criteria.offset, criteria.limit)

    def _overlay(self, uow: Any, criteria: Criteria, items: list[T], total: int) -> tuple[list[T], int]:
        pending = uow.tracked_of(self.cls)
        if not pending:
            return items, total
        from archipel.adapters.memory.database import run_criteria

        everything, _ = self._read_tx().query(
            self.schema, Criteria(criteria.q, criteria.order_by, None, 0)
        )
        by_id: dict[Any, dict[str, Any]] = {r[self._id_field]: r for r in everything}
        objects: dict[Any, Any] = {}
        for obj in pending:
            ident = obj.__dict__[self._id_field]
            by_id[ident] = obj.to_dict()
            objects[ident] = obj
        page, total = run_criteria(by_id.values(), self.schema, criteria)
        result = [objects.get(r[self._id_field]) or self._rebuild(r) for r in page]
        return result, total

    @property
    def query(self) -> QuerySet[T]:
        """A lazy :class:`QuerySet` over all objects (at most the element's ``limit``,
        100 by default, unless ``.limit()`` says otherwise; sorted by a projection's
        ``order_by`` unless ``.order_by()`` says otherwise); ``update``, ``delete``
        and ``raw`` work on it."""
        return QuerySet(self._run, Criteria(order_by=self._order_by, limit=self._limit), model=self.cls,
                        writes=self._dao)

    @property
    def _dao(self) -> DataAccess[T]:
        """Protean's data access object of this repository (for custom repositories:
        ``self._dao.query``, ``find_by``, ``exists({}, ...)``, ``create``, ``save``,
        ``update``, ``delete``, ``delete_all``, ``outside_uow()``)."""
        return DataAccess(self)

    def find(self, criteria: Q | None = None, **kwargs: Any) -> ResultSet[T]:
        """Objects matching ``criteria`` (a ``Q``) and/or ``field=value`` pairs (at most
        the element's ``limit``, as Protean's ``find``; ``query.limit(None)`` for all)."""
        q = Q(**kwargs)
        if criteria is not None:
            q = criteria & q
        return self._run(Criteria(q, order_by=self._order_by, limit=self._limit))

    def find_by(self, **kwargs: Any) -> T:
        """The one object matching ``field=value`` pairs.

        ``ObjectNotFound`` if none matches; ``TooManyObjects`` if several do
        (use ``find`` to get them all).
        """
        found = self._run(Criteria(Q(**kwargs), limit=2))
        if not found.items:
            raise ObjectNotFound(f"no {self.cls.__name__} matches {kwargs!r}")
        if len(found.items) > 1:
            raise TooManyObjects(
                f"{found.total} {self.cls.__name__} objects match {kwargs!r}: narrow the "
                "criteria, or use find() to get them all"
            )
        return found.items[0]

    def all(self) -> ResultSet[T]:
        """Every stored object (one result set)."""
        return self._run(Criteria(order_by=self._order_by))

    def count(self) -> int:
        """How many objects are stored."""
        return self.query.count()


class Repository(BaseRepository[T]):
    """The default repository of an aggregate or projection."""


class ReadOnlyRepository(Generic[T]):
    """What ``domain.query_for(Projection)`` returns: reads only."""

    def __init__(self, repository: BaseRepository[T]) -> None:
        self._repository = repository

    def get(self, identity: Any) -> T:
        return self._repository.get(identity)

    def get_or_none(self, identity: Any) -> T | None:
        return self._repository.get_or_none(identity)

    def find(self, criteria: Q | None = None, **kwargs: Any) -> ResultSet[T]:
        return self._repository.find(criteria, **kwargs)

    def find_by(self, **kwargs: Any) -> T:
        """The one record matching ``field=value`` pairs (see :meth:`BaseRepository.find_by`)."""
        return self._repository.find_by(**kwargs)

    @property
    def query(self) -> QuerySet[T]:
        return self._repository.query

    def all(self) -> ResultSet[T]:
        return self._repository.all()

    def count(self) -> int:
        return self._repository.count()


def _add_alone(domain: Any, obj: Any, identity: Any) -> None:
    """Track ``obj`` in a unit of work of its own, committed at once (``Repository.add``
    outside a handler)."""
    domain.run_in_unit_of_work(lambda u: u.track(obj, identity))
