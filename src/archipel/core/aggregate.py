"""Aggregates: the consistency boundary, the unit that is loaded and saved.

An aggregate raises events with :meth:`BaseAggregate.raise_`; they are stored
and dispatched when the unit of work that saved the aggregate commits.
``_version`` is the optimistic-concurrency version (-1 until first stored);
``_event_position`` is the position of its last event in its stream.
"""

from __future__ import annotations

import datetime as _dt
import warnings
from typing import Any, ClassVar

import archipel.utils.clock as _clock
from archipel.core.entity import BaseEntity, _run_checks, atomic_change
from archipel.core.event_sourcing import apply, apply_events, fresh_aggregate
from archipel.core.message import new_message_id
from archipel.core.model import run_defaults
from archipel.errors import IncorrectUsageError
from archipel.fields.association import HasMany, HasOne
from archipel.utils.clock import domain_now
from archipel.utils.scope import MESSAGE, scope_get

__all__ = ["BaseAggregate", "apply", "atomic_change", "stream_name"]  # the last two: Protean's paths

_now = _dt.datetime.now
_UTC = _dt.UTC


def stream_name(category: str, identity: Any) -> str:
    """The stream of one aggregate instance: ``<category>-<identity>``."""
    return f"{category}-{identity}"


def _defined_here(function: Any, qualname: str) -> bool:
    """Whether ``function`` is this module's ``qualname`` (usable while its class is being made)."""
    return getattr(function, "__module__", None) == __name__ and getattr(function, "__qualname__", None) == qualname


class BaseAggregate(BaseEntity):
    """Base class of aggregates."""

    _element_kind: ClassVar[str] = "aggregate"

    def _after_init(self) -> None:
        # ``_inline_after_init`` writes these same lines into a generated ``__init__``
        values = self.__dict__
        values["_version"] = -1
        values["_event_position"] = -1
        values["_events"] = []
        values["_changed"] = True
        values["_root"] = None
        values["_in_atomic_change"] = False
        if self._children_fields:
            self._adopt_children()
        if self._has_defaults:
            run_defaults(self)
        if self._post_invariants:
            _run_checks(self, self._post_invariants)

    @classmethod
    def _inline_after_init(cls) -> tuple[list[str], dict[str, Any]] | None:
        # inlined when it only sets the bookkeeping values: no children to adopt (their
        # fields are known now; ``_children_fields`` is set later), no invariants to run
        if not _defined_here(cls._after_init, "BaseAggregate._after_init") or cls._post_invariants:
            return None
        if any(isinstance(field, (HasMany, HasOne)) for field in cls._fields.values()):
            return None
        return (
            [
                "_ar_values['_version'] = -1",
                "_ar_values['_event_position'] = -1",
                "_ar_values['_events'] = []",
                "_ar_values['_changed'] = True",
                "_ar_values['_root'] = None",
                "_ar_values['_in_atomic_change'] = False",
            ],
            {},
        )

    def _after_load(self) -> None:
        values = self.__dict__
        values["_version"] = -1
        values["_event_position"] = -1
        values["_events"] = []
        values["_changed"] = False
        values["_root"] = None
        values["_in_atomic_change"] = False
        if self._children_fields:
            self._adopt_children()

    def _mark_changed(self) -> None:
        self.__dict__["_changed"] = True

    def raise_(self, event: Any) -> None:
        """Record ``event`` as having happened to this aggregate.

        The event gets its id, type, stream, time and stream position now; inside a
        handler, also its correlation id (the handled message's) and causation id (the
        handled message's id), as in Protean. Raised outside any handler, it gets them
        when the unit of work commits (the request's correlation id, if any).
        A command or anything but an event is an ``IncorrectUsageError``.
        """
        kind = getattr(type(event), "_kind", None)
        if kind != "EVENT":
            what = "a command: process it with domain.process()" if kind == "COMMAND" else "no event"
            raise IncorrectUsageError(f"raise_ takes an event; {type(event).__name__} is {what}")
        options = type(event)._meta
        part_of = options.part_of
        if part_of is not None and part_of is not type(self) and not isinstance(self, part_of):
            raise IncorrectUsageError(
                f"{type(event).__name__} is part of {getattr(part_of, '__name__', part_of)}, "
                f"not {type(self).__name__}: raise it from its own aggregate"
            )
        values = self.__dict__
        if "_temporal" in values:
            raise IncorrectUsageError(
                f"this {type(self).__name__} was loaded with at_version/as_of: it is a read-only "
                "view of the past; load the current state to change it"
            )
        extra = options.extra
        if extra and extra.get("deprecated") and not extra.get("_deprecation_warned"):
            _warn_deprecated(type(event))
        position = values["_event_position"] + 1
        values["_event_position"] = position
        # the envelope, written straight into its dict (Metadata has no setters for these)
        meta = event._metadata
        # read first (a stored envelope decodes on its first read); the fields of every fresh
        # envelope set as attributes (a store at their known index: no hash, no lookup),
        # ``domain`` (a property) in the dict
        evalues = meta.__dict__
        meta.id = new_message_id()
        meta.type = options.type_string or f"{type(event).__name__}.v{options.version}"
        category = self._meta.stream_category or type(self).__name__.lower()
        meta.stream = f"{category}-{values[self._id_field]}"  # type: ignore[index]
        meta.time = domain_now() if _clock.custom_clocks else _now(_UTC)
        meta.position = position
        meta.version = options.version
        evalues["domain"] = options.domain_name
        cause: Any = scope_get()[MESSAGE]
        if cause is not None and meta.causation_id is None:
            cause_meta = cause._metadata
            cause_id = meta.causation_id = cause_meta.id
            if meta.correlation_id is None:
                meta.correlation_id = cause_meta.correlation_id or cause_id
        domain = options.domain
        if domain is not None and domain.event_enrichers:
            try:
                domain.enrich_event(event, self)
            except BaseException:
                values["_event_position"] = position - 1  # the event is not raised
                raise
        values["_events"].append(event)
        values["_changed"] = True
        appliers = self._appliers
        if appliers:
            applier = appliers.get(type(event))
            if applier is not None:
                applier(self, event)

    #: event class -> ``@apply`` method (event-sourced aggregates)
    _appliers: ClassVar[dict[type, Any]] = {}

    @classmethod
    def from_events(cls, events: list[Any]) -> Any:
        """An event-sourced aggregate rebuilt from ``events`` through its ``@apply`` methods (Protean's).

        Starts from a blank aggregate (no identity, default values): the first
        event's ``@apply`` sets the identity. ``IncorrectUsageError`` for no events.
        """
        if not events:
            raise IncorrectUsageError(f"cannot rebuild {cls.__name__} from an empty list of events")
        return apply_events(fresh_aggregate(cls, None), list(events))

    def _pending_events(self) -> list[Any]:
        return self.__dict__["_events"]  # type: ignore[no-any-return]

    def _clear_events(self) -> None:
        self.__dict__["_events"] = []


def _warn_deprecated(event_cls: type) -> None:
    """Warn, once per event class, that a deprecated event is being raised."""
    options = event_cls._meta  # type: ignore[attr-defined]
    options.extra["_deprecation_warned"] = True
    deprecated = options.extra.get("deprecated")
    text = f"event {event_cls.__name__} is deprecated"
    if isinstance(deprecated, dict) and deprecated.get("since"):
        text += f" since {deprecated['since']}"
    if isinstance(deprecated, dict) and deprecated.get("removal"):
        text += f" and will be removed in {deprecated['removal']}"
    successor = options.extra.get("superseded_by")
    if successor is not None:
        text += f"; raise {getattr(successor, '__name__', successor)} instead"
    warnings.warn(text, DeprecationWarning, stacklevel=3)
