"""The element registry of one domain: what was registered, with which options.

``register`` accepts classes that already derive from the kind's base class
and plain classes (which get the base class mixed in, keeping their name,
module and fields). Options are stored on ``cls._meta``.
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archipel.core.aggregate import BaseAggregate
from archipel.core.application_service import USE_CASE_ATTR, BaseApplicationService
from archipel.core.command import BaseCommand
from archipel.core.command_handler import BaseCommandHandler
from archipel.core.database_model import BaseDatabaseModel
from archipel.core.domain_service import BaseDomainService
from archipel.core.email import BaseEmail
from archipel.core.entity import BaseEntity
from archipel.core.event import BaseEvent
from archipel.core.event_handler import BaseEventHandler
from archipel.core.handler_options import HANDLER_OPTIONS, normalize_handler_options
from archipel.core.message import stamp_class_type
from archipel.core.process_manager import BaseProcessManager
from archipel.core.projection import BaseProjection
from archipel.core.projector import BaseProjector
from archipel.core.query import BaseQuery
from archipel.core.query_handler import BaseQueryHandler
from archipel.core.subscriber import BaseSubscriber
from archipel.core.upcaster import BaseUpcaster
from archipel.core.value_object import BaseValueObject
from archipel.domain.introspection import PLURALS, DomainRecord, records
from archipel.errors import ConfigurationError, IncorrectUsageError
from archipel.fields.base import Field
from archipel.handling.event_sourced_repository import BaseEventSourcedRepository
from archipel.handling.repository import BaseRepository

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["Registry", "KINDS", "BASES"]

BASES: dict[str, type] = {
    "aggregate": BaseAggregate,
    "entity": BaseEntity,
    "value_object": BaseValueObject,
    "command": BaseCommand,
    "event": BaseEvent,
    "command_handler": BaseCommandHandler,
    "event_handler": BaseEventHandler,
    "projection": BaseProjection,
    "projector": BaseProjector,
    "process_manager": BaseProcessManager,
    "subscriber": BaseSubscriber,
    "application_service": BaseApplicationService,
    "domain_service": BaseDomainService,
    "repository": BaseRepository,
    "event_sourced_repository": BaseEventSourcedRepository,
    "database_model": BaseDatabaseModel,
    "email": BaseEmail,
    "query": BaseQuery,
    "query_handler": BaseQueryHandler,
    "upcaster": BaseUpcaster,
}
KINDS = tuple(BASES)

# options each kind accepts (anything else is a typo worth reporting)
_OPTIONS: dict[str, set[str]] = {
    "aggregate": {"fact_events", "event_sourced", "is_event_sourced", "stream_category", "database", "provider", "schema_name", "abstract", "auto_add_id_field", "limit", "indexes"},
    "entity": {"part_of", "database", "provider", "schema_name", "abstract", "auto_add_id_field", "limit"},
    "value_object": {"part_of", "abstract"},
    "command": {"part_of", "abstract", "version", "stream_category"},
    "event": {"part_of", "abstract", "version", "published", "stream_category", "deprecated", "superseded_by"},
    "command_handler": {"part_of", "stream_category"},
    "event_handler": {"part_of", "stream_category", "source_stream", "aggregates"},
    "projection": {"database", "provider", "schema_name", "abstract", "limit", "cache", "indexes", "externally_populated", "order_by"},
    "projector": {"projector_for", "aggregates", "stream_categories", "inline"},
    "process_manager": {"stream_categories", "aggregates", "stream_category", "database", "provider"},
    "subscriber": {"stream", "broker"},
    "application_service": {"part_of"},
    "domain_service": {"part_of"},
    "repository": {"part_of", "database"},
    "event_sourced_repository": {"part_of"},
    "database_model": {"part_of", "database", "schema_name"},
    "email": {"provider"},
    "query": {"part_of"},
    "query_handler": {"part_of"},
    "upcaster": {"event_type", "from_version", "to_version"},
}


for _kind, _extra in HANDLER_OPTIONS.items():
    _OPTIONS[_kind] |= _extra
# Protean's options of every element: lint codes it silences (``archipel check``), deprecation
for _kind in _OPTIONS:
    if _kind != "upcaster":
        _OPTIONS[_kind] |= {"suppress_checks", "deprecated"}
_OPTIONS["command"].add("superseded_by")
_OPTIONS["command"].add("lenient")  # drop stored fields the class no longer declares
_OPTIONS["event"].add("lenient")


def _derive(cls: type, base: type) -> type:
    """Mix ``base`` into a plain class, keeping its identity-visible names."""
    namespace: dict[str, Any] = {
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
    }
    # fields declared on the plain class are copied so the new class owns them
    for name, value in vars(cls).items():
        if isinstance(value, Field):
            clone = copy.copy(value)
            clone.name = name
            namespace[name] = clone
    return type(cls.__name__, (cls, base), namespace)


def _check_deprecation(owner: str, options: dict[str, Any]) -> None:
    """``deprecated=``: True, a version (``"0.15"``, Protean's shorthand for ``{"since": ...}``)
    or ``{"since": ..., "removal": ...}``; ``suppress_checks=``: lint codes (``archipel check``)."""
    deprecated = options.get("deprecated")
    if isinstance(deprecated, str):
        options["deprecated"] = {"since": deprecated}
    elif deprecated is not None and not isinstance(deprecated, bool) and (
        not isinstance(deprecated, dict) or set(deprecated) - {"since", "removal"}
    ):
        raise ConfigurationError(
            f"{owner}: deprecated={deprecated!r} is not valid; expected True, a version such as "
            "'0.15', or a dict with 'since' and/or 'removal' (versions)"
        )
    if options.get("lenient") not in (None, True, False):
        raise ConfigurationError(f"{owner}: lenient={options['lenient']!r} is not valid; expected True or False")
    codes = options.get("suppress_checks")
    if codes is not None and not isinstance(codes, str) and (
        not isinstance(codes, (list, tuple, set, frozenset)) or not all(isinstance(c, str) for c in codes)
    ):
        raise ConfigurationError(
            f"{owner}: suppress_checks={codes!r} is not valid; expected a list of lint codes "
            "such as ['UNUSED_COMMAND']"
        )


def _query_limit(owner: str, limit: Any) -> int | None:
    """The ``limit`` option: records a query returns by default (a negative one or None: all)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ConfigurationError(
            f"{owner}: limit={limit!r} is not valid; expected a whole number (records a query "
            "returns by default; negative or None for no limit)"
        )
    return None if limit < 0 else limit


def _order_by(cls: type, order: Any) -> tuple[str, ...]:
    """A projection's ``order_by``: its queries' default sort (``"-name"``: descending)."""
    names = (order,) if isinstance(order, str) else order
    fields = getattr(cls, "_fields", {})
    if not isinstance(names, (list, tuple)) or not all(
        isinstance(n, str) and n.lstrip("-") in fields for n in names
    ):
        raise ConfigurationError(
            f"{cls.__name__}: order_by={order!r} is not valid; expected field names (\"-name\" "
            f"for descending) of {', '.join(sorted(fields))}"
        )
    return tuple(names)


def _wrap_use_cases(cls: type, domain: Domain) -> None:
    """Make every ``@use_case`` method of ``cls`` run in its own unit of work and domain context."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        for name, method in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            if getattr(method, USE_CASE_ATTR, False) and not getattr(method, _IN_UOW_ATTR, False):
                setattr(cls, name, _in_unit_of_work(domain, method))


_IN_UOW_ATTR = "_archipel_in_unit_of_work"


def _in_unit_of_work(domain: Domain, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with domain.domain_context():
            return domain.run_in_unit_of_work(lambda _uow: method(self, *args, **kwargs))

    setattr(run, _IN_UOW_ATTR, True)
    return run


class Registry:
    """Elements of one domain by kind and by class name."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.elements: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        self.by_name: dict[str, type] = {}
        self.external_events: dict[type, str] = {}

    def register(self, cls: type, kind: str, **options: Any) -> type:
        if kind not in BASES:
            raise IncorrectUsageError(f"unknown element kind {kind!r}; use one of {', '.join(KINDS)}")
        if not isinstance(cls, type):
            raise IncorrectUsageError(f"@domain.{kind} decorates classes, not {cls!r}")
        if kind == "command" and "published" in options:
            # Protean 0.18 deprecates it (commands stay inside their bounded context): no effect
            warnings.warn(
                f"{cls.__name__}: `published` on a command has no effect (only events are "
                "published); remove it",
                DeprecationWarning,
                stacklevel=3,
            )
            options = {k: v for k, v in options.items() if k != "published"}
        unknown = set(options) - _OPTIONS[kind]
        if unknown:
            raise ConfigurationError(
                f"{cls.__name__}: unknown option(s) {', '.join(sorted(unknown))} for a {kind}; "
                f"allowed: {', '.join(sorted(_OPTIONS[kind]))}"
            )
        if kind in HANDLER_OPTIONS:
            options = normalize_handler_options(cls.__name__, kind, options)
        if "event_sourced" in options:  # Protean 0.17's spelling; it wins over the old one
            options["is_event_sourced"] = options["event_sourced"] = bool(options["event_sourced"])
        _check_deprecation(cls.__name__, options)
        if "limit" in options:
            options["limit"] = _query_limit(cls.__name__, options["limit"])
        if "order_by" in options:
            options["order_by"] = _order_by(cls, options["order_by"])
        if kind == "event_sourced_repository":
            _check_event_sourced_part_of(cls.__name__, options.get("part_of"))
        base = BASES[kind]
        if not issubclass(cls, base):
            cls = _derive(cls, base)
        if kind == "application_service":
            _wrap_use_cases(cls, self.domain)
        meta = cls._meta  # type: ignore[attr-defined]
        if meta.domain is not None and meta.domain is not self.domain:
            raise ConfigurationError(
                f"{cls.__name__} is already registered with domain {meta.domain_name!r}: "
                "each domain defines its own classes (use register_external_event for "
                "another domain's events)"
            )
        cls.meta_ = meta  # type: ignore[attr-defined]  # Protean's name for the options
        meta.kind = kind
        meta.domain = self.domain
        meta.domain_name = self.domain.name
        meta.name = cls.__name__
        meta.part_of = options.get("part_of")
        meta.abstract = bool(options.get("abstract", False))
        meta.fact_events = bool(options.get("fact_events", False))
        meta.published = bool(options.get("published", False))
        meta.version = _message_version(cls, kind, options)
        extra = meta.extra  # the options' __dict__: replaced in place
        extra.clear()
        extra.update(options)
        if kind in ("event", "command"):
            meta.type_string = f"{self.domain.type_prefix}.{cls.__name__}.v{meta.version}"
            cls.__version__ = meta.version  # type: ignore[attr-defined]
            cls.__type__ = meta.type_string  # type: ignore[attr-defined]  # Protean's name
            stamp_class_type(cls, meta.type_string)
        previous = self.elements[kind].get(cls.__name__)
        if previous is not None and previous is not cls and previous.__module__ == cls.__module__:
            # the same module was executed again (e.g. re-imported): keep the latest
            pass
        self.elements[kind][cls.__name__] = cls
        self.by_name[cls.__name__] = cls
        self.by_name[f"{cls.__module__}.{cls.__qualname__}"] = cls
        return cls

    def register_external_event(self, cls: type, type_string: str) -> None:
        if not (isinstance(cls, type) and issubclass(cls, BaseEvent)):
            raise IncorrectUsageError(
                f"register_external_event takes an event class (a BaseEvent subclass), got {cls!r}"
            )
        parts = type_string.split(".")
        if len(parts) != 3 or not parts[2].startswith("v"):
            raise ConfigurationError(
                f"type string {type_string!r} must look like '<Domain>.<Event>.v<N>', "
                "e.g. 'Billing.PaymentReceived.v1'"
            )
        self.external_events[cls] = type_string
        cls.__type__ = type_string  # type: ignore[attr-defined]  # as Protean does
        stamp_class_type(cls, type_string)

    def __getattr__(self, name: str) -> dict[str, DomainRecord]:
        # Protean's ``domain.registry.aggregates`` (and every other kind, plural)
        kind = PLURALS.get(name)
        if kind is None or name.startswith("_"):
            raise AttributeError(f"the registry has no {name!r}; kinds: {', '.join(PLURALS)}")
        return records(self.__dict__["elements"], kind)

    def of_kind(self, kind: str) -> dict[str, Any]:
        return self.elements[kind]

    def resolve(self, name: str) -> type:
        found = self.by_name.get(name)
        if found is None:
            raise ConfigurationError(
                f"{name!r} is referenced but not registered with domain {self.domain.name!r}: "
                f"decorate it with @{self.domain.snake_name}.<kind> or check the spelling"
            )
        return found

    def all(self) -> list[tuple[str, type]]:
        return [(kind, cls) for kind, classes in self.elements.items() for cls in classes.values()]


def _check_event_sourced_part_of(name: str, part_of: Any) -> None:
    """An event-sourced repository needs ``part_of=`` an event-sourced aggregate."""
    if part_of is None:
        raise IncorrectUsageError(
            f"event-sourced repository {name} needs part_of=<an event-sourced aggregate>"
        )
    meta = getattr(part_of, "_meta", None)
    if isinstance(part_of, type) and not (meta is not None and meta.get("is_event_sourced")):
        raise IncorrectUsageError(
            f"event-sourced repository {name}: part_of={part_of.__name__} is not an event-sourced "
            "aggregate (register it with is_event_sourced=True, or use @domain.repository)"
        )


def _message_version(cls: type, kind: str, options: dict[str, Any]) -> int:
    """The schema version of a command or event: ``version=N`` or ``__version__ = N`` (default 1)."""
    declared = cls.__dict__.get("__version__")
    option = options.get("version")
    if kind not in ("event", "command"):
        return 1
    for source, value in (("version=", option), ("__version__ =", declared)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigurationError(
                f"{cls.__name__}: {source} {value!r} is not a version; use a whole number >= 1"
            )
    if option is not None and declared is not None and option != declared:
        raise ConfigurationError(
            f"{cls.__name__} declares __version__ = {declared} and version={option}: keep one"
        )
    version = option if option is not None else declared if declared is not None else 1
    return int(version)
