"""Entities: objects with an identity that live inside an aggregate.

An entity's invariants, and those of the aggregate that owns it, are checked
around every change. ``HasMany`` fields get generated ``add_<field>`` and
``remove_<field>`` methods that keep invariants and the owner link right.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from archipel.core.invariant import failure_codes, invariant
from archipel.core.model import BaseModel, run_defaults
from archipel.core.state import ElementState
from archipel.error_codes import INVARIANT_POST_FAILED, INVARIANT_PRE_FAILED
from archipel.errors import IncorrectUsageError, ObjectNotFound, TooManyObjects, ValidationError
from archipel.fields.association import HasMany, HasOne, Reference
from archipel.fields.base import FieldError
from archipel.utils.wide_events import security_event

__all__ = ["BaseEntity", "atomic_change", "invariant"]  # invariant: Protean's path


_ABSENT = object()


def _run_checks(obj: Any, checks: tuple[Any, ...]) -> None:
    errors: dict[str, list[str]] = {}
    failed: list[Any] = []
    for check in checks:
        try:
            check(obj)
        except ValidationError as exc:
            failed.append(check)
            for key, messages in exc.messages.items():
                errors.setdefault(key, []).extend(messages)
    if errors:
        stage = "pre" if checks is type(obj)._pre_invariants else "post"
        location = type(obj).__qualname__
        if isinstance(obj, BaseEntity):
            _invariants_failed(obj, stage, [getattr(check, "__name__", str(check)) for check in failed])
            location = type(obj._owner()).__qualname__
        default = INVARIANT_PRE_FAILED if stage == "pre" else INVARIANT_POST_FAILED
        raise ValidationError(errors, codes=failure_codes(failed, default), location=location)


def _invariants_failed(obj: BaseEntity, stage: str, failed: list[str]) -> None:
    """One ``invariant_failed`` security event per failed invariant (while handling a message):
    ``aggregate``/``aggregate_id`` name the aggregate, as Protean's do, and ``entity``/``entity_id``
    the entity whose invariant failed, when it is not the aggregate itself."""
    root = obj._owner()
    extra = {} if root is obj else {"entity": type(obj).__name__, "entity_id": _identity_text(obj)}
    for name in failed:
        security_event(
            "invariant_failed",
            aggregate=type(root).__name__,
            aggregate_id=_identity_text(root),
            invariant=name,
            stage=stage,
            **extra,
        )


def _identity_text(obj: BaseEntity) -> str:
    id_field = type(obj)._id_field
    identity = obj.__dict__.get(id_field) if id_field else None
    return "" if identity is None else str(identity)


class BaseEntity(BaseModel):
    """Base class of entities: equal by identity, mutable, with invariants."""

    _auto_identity: ClassVar[bool] = True
    _element_kind: ClassVar[str] = "entity"
    _children_fields: ClassVar[tuple[str, ...]] = ()
    #: (children field, the child's field that gets this entity's identity): ``via=``
    _child_links: ClassVar[tuple[tuple[str, str], ...]] = ()

    @classmethod
    def _setup_fields(cls) -> None:
        super()._setup_fields()
        children = []
        links = []
        aliases = {}
        for name, field in cls._fields.items():
            if isinstance(field, (HasMany, HasOne)):
                children.append(name)
                if field.via:
                    links.append((name, field.via))
            if isinstance(field, HasMany):
                _add_collection_methods(cls, name)
            if isinstance(field, Reference) and _add_reference_alias(cls, name):
                aliases[f"{name}_id"] = name
        cls._init_aliases = aliases
        cls._children_fields = tuple(children)
        cls._child_links = tuple(links)

    def _after_init(self) -> None:
        values = self.__dict__
        values["_root"] = None
        values["_in_atomic_change"] = False
        if self._children_fields:
            self._adopt_children()
        if self._has_defaults:
            run_defaults(self)
        if self._post_invariants:
            _run_checks(self, self._post_invariants)

    def _after_load(self) -> None:
        values = self.__dict__
        values["_root"] = None
        values["_in_atomic_change"] = False
        if self._children_fields:
            self._adopt_children()

    def _adopt_children(self) -> None:
        root = self.__dict__.get("_root") or self
        for name, via in self._child_links:
            value = self.__dict__.get(name)
            identity = self._identity()
            for child in value if isinstance(value, list) else (() if value is None else (value,)):
                child.__dict__[via] = identity
        for name in self._children_fields:
            value = self.__dict__.get(name)
            if value is None:
                continue
            for child in value if isinstance(value, list) else (value,):
                object.__setattr__(child, "_root", root)
                object.__setattr__(child, "_parent", self)  # its owner (``comment.post``)
                if child._children_fields:
                    child._adopt_children()  # grandchildren belong to the same root

    @classmethod
    def from_value_object(cls, value_object: Any) -> Any:
        """An entity built from ``value_object``'s values (Protean's; the inverse of
        ``value_object_from_entity``). An identifier or unique field that is None in it
        is left out, so an identity is generated."""
        data = value_object.to_dict()
        keys = {name for name, field in cls._fields.items() if field.identifier or field.unique}
        return cls(**{k: v for k, v in data.items() if not (v is None and k in keys)})

    def raise_(self, event: Any) -> None:
        """Raise ``event`` on this entity's aggregate root, as Protean does (its events list).

        ``IncorrectUsageError`` when the entity belongs to no aggregate yet (not added
        to one) or the event is part of another aggregate.
        """
        root = self.__dict__.get("_root")
        if root is None:
            raise IncorrectUsageError(
                f"{type(self).__name__} belongs to no aggregate yet: add it to one before raising "
                f"{type(event).__name__}"
            )
        root.raise_(event)

    # -- invariants around changes -----------------------------------------
    def _owner(self) -> BaseEntity:
        root = self.__dict__.get("_root")
        return root if root is not None else self

    def _set_field(self, name: str, value: Any) -> None:
        owner = self._owner()
        if owner.__dict__.get("_in_atomic_change"):
            self.__dict__[name] = value
        else:
            self._guarded_change(lambda: self.__dict__.__setitem__(name, value), name)
        if name in self._children_fields:
            self._adopt_children()

    def _guarded_change(self, change: Any, name: str) -> None:
        """Apply ``change`` (which sets field ``name``) between the invariant checks.

        When a post invariant fails, the field gets its previous value back.
        """
        owner = self._owner()
        if owner.__dict__.get("_in_atomic_change"):
            change()
            return
        if owner._pre_invariants:
            _run_checks(owner, owner._pre_invariants)
        if owner is not self and self._pre_invariants:
            _run_checks(self, self._pre_invariants)
        values = self.__dict__
        previous = values.get(name, _ABSENT)
        change()
        try:
            if owner is not self and self._post_invariants:
                _run_checks(self, self._post_invariants)
            if owner._post_invariants:
                _run_checks(owner, owner._post_invariants)
        except ValidationError:
            if previous is _ABSENT:
                values.pop(name, None)
            else:
                values[name] = previous
            raise
        owner._mark_changed()

    def _mark_changed(self) -> None:
        """Hook: aggregates remember that they changed."""

    @property
    def state_(self) -> ElementState:
        """Where this element stands against its store: ``is_new``, ``is_persisted``,
        ``is_changed``, ``is_destroyed`` (Protean's ``state_``)."""
        return ElementState(self)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(self._identity() == other._identity())  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._identity()))


def _add_reference_alias(cls: type, name: str) -> bool:
    """``<name>_id`` (Protean's shadow field of a ``Reference``): the same stored identity.

    archipel's ``Reference`` field itself holds the identity; the alias reads and
    assigns it under Protean's name (``comment.post_id``), and is a constructor
    keyword (``Comment(post_id=...)``). A field or attribute of that name already
    on the class wins (False is returned then).
    """
    alias = f"{name}_id"
    if alias in cls._fields:  # type: ignore[attr-defined]
        return False
    existing = cls.__dict__.get(alias)
    if existing is not None:
        # ours, from an earlier setup of this class, or the user's own attribute
        return getattr(getattr(existing, "fget", None), "_archipel_alias", False) is True

    def read(self: BaseEntity) -> Any:
        return getattr(self, name)

    def write(self: BaseEntity, value: Any) -> None:
        setattr(self, name, value)

    alias_property = property(read, write, doc=f"The identity held by ``{name}`` (Protean's ``{alias}``).")
    read._archipel_alias = True  # type: ignore[attr-defined]
    setattr(cls, alias, alias_property)
    return True


def link_owner(cls: type, owner: type, name: str) -> bool:
    """Give entity ``cls`` Protean's implicit link to its owner ``owner`` (its ``part_of``):
    ``<name>`` is the owning object and ``<name>_id`` its identity, while the entity is held
    by one (None before). Read-only: the link follows the ``HasMany``/``HasOne`` holding it.

    A field or attribute of either name already on the class wins (False is returned).
    """
    alias = f"{name}_id"
    fields = cls._fields  # type: ignore[attr-defined]
    for taken in (name, alias):
        existing = cls.__dict__.get(taken)
        if taken in fields or (existing is not None and not getattr(getattr(existing, "fget", None), "_archipel_owner", False)):
            return False

    def parent(self: BaseEntity) -> Any:
        return self.__dict__.get("_parent")

    def parent_id(self: BaseEntity) -> Any:
        held_by = self.__dict__.get("_parent")
        return None if held_by is None else held_by._identity()

    parent._archipel_owner = parent_id._archipel_owner = True  # type: ignore[attr-defined]
    setattr(cls, name, property(parent, doc=f"The {owner.__name__} holding this {cls.__name__} (Protean's)."))
    setattr(cls, alias, property(parent_id, doc=f"The identity of the {owner.__name__} holding it."))
    return True


def _add_collection_methods(cls: type, name: str) -> None:
    def add(self: BaseEntity, *items: Any) -> None:
        field = self._fields[name]
        try:
            new_items = [field._build(item) for item in _flatten(items)]  # type: ignore[attr-defined]
        except FieldError as exc:
            raise ValidationError({name: exc.messages}) from None

        def change() -> None:
            current = list(self.__dict__.get(name) or [])
            ids = {item._identity(): i for i, item in enumerate(current)}
            for item in new_items:
                position = ids.get(item._identity())
                if position is None:
                    current.append(item)
                else:
                    current[position] = item
            self.__dict__[name] = current

        self._guarded_change(change, name)
        self._adopt_children()

    def remove(self: BaseEntity, *items: Any) -> None:
        doomed = {item._identity() for item in _flatten(items)}

        def change() -> None:
            self.__dict__[name] = [
                item for item in self.__dict__.get(name) or [] if item._identity() not in doomed
            ]

        self._guarded_change(change, name)

    def filter_(self: BaseEntity, **criteria: Any) -> list[Any]:
        fields = self._fields[name].to_cls._fields  # type: ignore[attr-defined]
        unknown = sorted(set(criteria) - set(fields))
        if unknown:
            raise IncorrectUsageError(
                f"{name} holds entities with no field(s) {', '.join(unknown)}; fields: {', '.join(fields)}"
            )
        return [
            item
            for item in self.__dict__.get(name) or []
            if all(getattr(item, key) == value for key, value in criteria.items())
        ]

    def get_one(self: BaseEntity, **criteria: Any) -> Any:
        found = filter_(self, **criteria)
        if not found:
            raise ObjectNotFound(f"no entity of {type(self).__name__}.{name} matches {criteria!r}")
        if len(found) > 1:
            raise TooManyObjects(
                f"{len(found)} entities of {type(self).__name__}.{name} match {criteria!r}: "
                f"use filter_{name}() to get them all"
            )
        return found[0]

    add.__name__ = f"add_{name}"
    add.__doc__ = f"Add entities to ``{name}`` (replacing those with the same identity)."
    remove.__name__ = f"remove_{name}"
    remove.__doc__ = f"Remove entities from ``{name}``."
    filter_.__name__ = f"filter_{name}"
    filter_.__doc__ = f"The entities of ``{name}`` whose fields equal the given values."
    get_one.__name__ = f"get_one_from_{name}"
    get_one.__doc__ = (
        f"The one entity of ``{name}`` whose fields equal the given values "
        "(``ObjectNotFoundError`` / ``TooManyObjectsError`` otherwise)."
    )
    for method in (add, remove, filter_, get_one):
        if method.__name__ not in cls.__dict__:
            setattr(cls, method.__name__, method)


def _flatten(items: tuple[Any, ...]) -> list[Any]:
    flat: list[Any] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            flat.extend(item)
        else:
            flat.append(item)
    return flat


@contextmanager
def atomic_change(entity: BaseEntity) -> Iterator[None]:
    """Make several changes and check invariants once, at the end.

    Pre invariants are checked on entry, post invariants on exit.
    """
    owner = entity._owner()
    if owner._pre_invariants:
        _run_checks(owner, owner._pre_invariants)
    object.__setattr__(owner, "_in_atomic_change", True)
    try:
        yield
    finally:
        object.__setattr__(owner, "_in_atomic_change", False)
    if owner._post_invariants:
        _run_checks(owner, owner._post_invariants)
    owner._mark_changed()
