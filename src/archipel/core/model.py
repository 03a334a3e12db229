"""The field-holding base shared by every data-carrying element.

Fields are collected once per class (``__init_subclass__``). Construction
validates every field and raises one :class:`ValidationError` naming *all*
failing fields; nothing is half-built. Values live in the instance
``__dict__`` so reads are plain attribute lookups; writes go through
``__setattr__`` which cleans the value (and, for entities, checks invariants).

``_from_primitive`` rebuilds an instance from stored data without validation
or side effects: storage is trusted, and invariants are not re-run on load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, dataclass_transform

from archipel.core._codegen import build_from_primitive, build_init, build_to_dict, can_generate
from archipel.core.declarations import Unresolved, annotated_fields
from archipel.core.invariant import collect_invariants
from archipel.core.options import ElementOptions
from archipel.errors import ConfigurationError, IncorrectUsageError, ValidationError
from archipel.fields import simple as _simple
from archipel.fields.association import HasMany, HasOne, Reference
from archipel.fields.base import MISSING, Field, FieldError
from archipel.fields.basic import SerializerField
from archipel.fields.containers import Dict, List
from archipel.fields.custom import Custom
from archipel.fields.embedded import ValueObject, ValueObjectFromEntity
from archipel.fields.status import Status

__all__ = ["BaseModel", "fields_of", "id_field_of", "stamp_dates"]

_Converter = Callable[[Any], Any] | None


# type checkers see an element's fields as keyword arguments of its __init__
@dataclass_transform(
    kw_only_default=True,
    field_specifiers=(
        Field,
        _simple.String,
        _simple.Text,
        _simple.Integer,
        _simple.Float,
        _simple.Decimal,
        _simple.Boolean,
        _simple.Date,
        _simple.DateTime,
        _simple.Identifier,
        _simple.Auto,
        List,
        Dict,
        ValueObject,
        HasMany,
        HasOne,
        Reference,
        ValueObjectFromEntity,
        Status,
        Custom,
    ),
)
class BaseModel:
    """Base of elements that carry fields (not used directly by users)."""

    _fields: ClassVar[dict[str, Field]] = {}
    _field_items: ClassVar[tuple[tuple[str, Field], ...]] = ()
    _to_primitive: ClassVar[tuple[tuple[str, _Converter], ...]] = ()
    _from_primitive_items: ClassVar[tuple[tuple[str, _Converter], ...]] = ()
    #: (name, cleaner, default factory) per field, computed once per class
    _init_plan: ClassVar[tuple[tuple[str, Callable[[Any], Any], Callable[[], Any] | None], ...]] = ()
    _cleaners: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    #: (field, former names) for fields declared with ``renamed_from``
    _renames: ClassVar[tuple[tuple[str, tuple[str, ...]], ...]] = ()
    #: constructor keywords naming a field another way: an entity's ``post_id`` for its
    #: ``post`` Reference (Protean's shadow field)
    _init_aliases: ClassVar[dict[str, str]] = {}
    #: (name, field) of date fields with ``auto_now``/``auto_now_add`` (stamped on save)
    _stamps: ClassVar[tuple[tuple[str, Field], ...]] = ()
    #: the class overrides :meth:`defaults` (the constructor then calls it)
    _has_defaults: ClassVar[bool] = False
    #: field name -> ``(current, new) -> error or None`` (``Status`` fields with transitions)
    _transitions: ClassVar[dict[str, Callable[[Any, Any], str | None]]] = {}
    _id_field: ClassVar[str | None] = None
    #: hints naming something not defined yet; ``Domain.init()`` retries them
    _unresolved: ClassVar[dict[str, Unresolved]] = {}
    _pre_invariants: ClassVar[tuple[Callable[..., Any], ...]] = ()
    _post_invariants: ClassVar[tuple[Callable[..., Any], ...]] = ()
    _meta: ClassVar[ElementOptions] = ElementOptions("model")
    #: immutable after construction (value objects, commands, events)
    _immutable: ClassVar[bool] = False
    #: element kinds that get an ``id = Auto(identifier=True)`` when none is declared
    _auto_identity: ClassVar[bool] = False
    _element_kind: ClassVar[str] = "model"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._meta = ElementOptions(cls._element_kind, cls.__name__)
        cls._setup_fields()

    @classmethod
    def _setup_fields(cls) -> None:
        """(Re)compute the field tables; called at class creation and by the domain."""
        fields: dict[str, Field] = {}
        unresolved: dict[str, Unresolved] = {}
        for klass in reversed(cls.__mro__):
            annotated: dict[str, Field] = {}
            if klass is not object and not klass.__module__.startswith("archipel."):
                annotated, pending = annotated_fields(cls, klass)
                unresolved.update(pending)
                for name in annotated:
                    unresolved.pop(name, None)
                fields.update(annotated)
            for name, value in vars(klass).items():
                if name in annotated:
                    continue
                if isinstance(value, Field):
                    if not value.name:
                        value.name = name
                    fields[name] = value
                elif isinstance(value, SerializerField):
                    raise ConfigurationError(
                        f"{cls.__name__}.{name}: {value!r} is one of Protean's deprecated serializer "
                        "fields, which no element takes (Protean 0.18 refuses it too); declare a "
                        "field (String, List, ValueObject, ...) or a method or property instead"
                    )
                elif name in fields and not isinstance(value, Field):
                    # a subclass replaced a field by something else: drop the field
                    del fields[name]
        explicit = [n for n, f in fields.items() if f.identifier and not getattr(f, "_auto_added", False)]
        if explicit:
            # an inherited auto-added ``id`` gives way to a declared identifier
            fields = {n: f for n, f in fields.items() if not getattr(f, "_auto_added", False)}
        id_field = next((n for n, f in fields.items() if f.identifier), None)
        is_framework_base = cls.__module__.startswith("archipel.core.")
        if id_field is None and cls._auto_identity and not is_framework_base:
            from archipel.fields.simple import Auto

            auto = Auto(identifier=True)
            auto._auto_added = True  # type: ignore[attr-defined]
            auto.__set_name__(cls, "id")
            type.__setattr__(cls, "id", auto)
            fields = {"id": auto, **fields}
            id_field = "id"
        cls._unresolved = unresolved
        cls._fields = fields
        cls._field_items = tuple(fields.items())
        cls._id_field = id_field
        cls._to_primitive = tuple(
            (n, None if type(f).as_primitive is Field.as_primitive else f.as_primitive)
            for n, f in fields.items()
        )
        if _uses_framework_method(cls, "to_dict", BaseModel.to_dict):
            generated = build_to_dict(cls, cls._to_primitive)
            generated.__doc__ = BaseModel.to_dict.__doc__
            type.__setattr__(cls, "to_dict", generated)
        cls._from_primitive_items = tuple(
            (n, None if type(f).from_primitive is Field.from_primitive else f.from_primitive)
            for n, f in fields.items()
        )
        cls._init_plan = tuple((n, f.fast_clean(), f.default_factory()) for n, f in fields.items())
        cls._cleaners = {n: c for n, c, _ in cls._init_plan}
        cls._renames = tuple((n, f.renamed_from) for n, f in fields.items() if f.renamed_from)
        _set_loaders(cls)
        cls._stamps = tuple(
            (n, f) for n, f in fields.items() if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
        )
        cls._transitions = {
            n: f.transition_error  # type: ignore[attr-defined]
            for n, f in fields.items()
            if getattr(f, "transitions", None) is not None
        }
        cls._pre_invariants, cls._post_invariants = collect_invariants(cls)
        if _uses_framework_init(cls):
            if unresolved or not can_generate(tuple(fields)):
                type.__setattr__(cls, "__init__", BaseModel.__init__)  # checks what is unresolved
            else:
                cls._has_defaults = cls.defaults is not BaseModel.defaults
                # a hook that does something; ``defaults()`` is called by ``_after_init``
                after_init = cls._after_init is not BaseModel._after_init or cls._has_defaults
                inline = cls._inline_after_init() if after_init and not cls._has_defaults else None
                type.__setattr__(
                    cls, "__init__", build_init(cls, cls._init_plan, BaseModel.__init__, after_init, inline)
                )

    # -- construction -----------------------------------------------------
    def __init__(self, *templates: dict[str, Any], **kwargs: Any) -> None:
        if self._unresolved:
            _raise_unresolved(type(self))
        if templates:
            merged: dict[str, Any] = {}
            for template in templates:
                if not isinstance(template, dict):
                    raise IncorrectUsageError(
                        f"{type(self).__name__}() takes keyword arguments or dicts, "
                        f"got {type(template).__name__}"
                    )
                merged.update(template)
            merged.update(kwargs)
            kwargs = merged
        aliases = self._init_aliases
        if aliases and not aliases.keys().isdisjoint(kwargs):
            kwargs = _resolve_aliases(type(self), kwargs, aliases)
        errors: dict[str, list[str]] | None = None
        values: dict[str, Any] = {}
        get = kwargs.get
        matched = 0
        for name, clean, default in self._init_plan:
            raw = get(name, MISSING)
            if raw is MISSING:
                raw = default() if default is not None else None
            else:
                matched += 1
                if raw is None and default is not None:
                    raw = default()
            try:
                values[name] = clean(raw)
            except FieldError as exc:
                if errors is None:
                    errors = {}
                errors[name] = exc.messages
        if matched != len(kwargs):
            if errors is None:
                errors = {}
            self._accept_extra({k: v for k, v in kwargs.items() if k not in self._fields}, errors)
        if errors:
            raise ValidationError(errors)
        self.__dict__.update(values)
        self._after_init()

    def _accept_extra(self, extra: dict[str, Any], errors: dict[str, list[str]]) -> None:
        for key in extra:
            errors[key] = [f"is not a field of {type(self).__name__}"]

    def _after_init(self) -> None:
        """Hook for subclasses (entities run invariants here); runs :meth:`defaults` if overridden."""
        if self._has_defaults:
            run_defaults(self)

    def defaults(self) -> None:
        """Protean's hook: override it to set values that depend on other fields.

        Runs at construction, once every field has its value and before the post
        invariants are checked; its writes are not checked one by one (an immutable
        value object may set its own fields here). Not run when an object is loaded
        from storage: what was saved is kept.
        """

    @classmethod
    def _inline_after_init(cls) -> tuple[list[str], dict[str, Any]] | None:
        """What ``_after_init`` does, as lines of the generated ``__init__`` (over its
        ``_ar_values``, the instance's dict) and the names they use, or None to call it.

        Only for a hook that does exactly that, for this class's fields (see
        :mod:`archipel.core._codegen`): a subclass that overrides ``_after_init``
        gets it called.
        """
        return None

    @classmethod
    def _from_primitive(cls, data: dict[str, Any]) -> Any:
        """Rebuild an instance from trusted stored data (no validation, no hooks)."""
        obj = cls._fill_from_primitive(data)
        obj._after_load()
        return obj

    @classmethod
    def _fill_from_primitive(cls, data: dict[str, Any]) -> Any:
        """:meth:`_from_primitive` without the ``_after_load`` hook (the caller finishes)."""
        if cls._renames:
            data = _apply_renames(data, cls._renames)
        obj = cls.__new__(cls)
        values = obj.__dict__
        get = data.get
        for name, convert in cls._from_primitive_items:
            value = get(name)
            values[name] = convert(value) if convert is not None else value
        return obj

    def _after_load(self) -> None:
        """Hook run after :meth:`_from_primitive` (entities wire their children)."""

    # -- attribute writes --------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        clean = self._cleaners.get(name)
        if clean is None:
            object.__setattr__(self, name, value)
            return
        if self._immutable and "_defaulting" not in self.__dict__:
            raise IncorrectUsageError(
                f"{type(self).__name__} is immutable: create a new instance instead of "
                f"changing {name!r}"
            )
        try:
            cleaned = clean(value)
        except FieldError as exc:
            raise ValidationError({name: exc.messages}) from None
        if self._transitions:
            check = self._transitions.get(name)
            if check is not None:
                error = check(self.__dict__.get(name), cleaned)
                if error is not None:
                    raise ValidationError({name: [error]})
        self._set_field(name, cleaned)

    def can_transition_to(self, name: str, value: Any) -> bool:
        """True when field ``name`` may change to ``value`` now (always, unless it is a ``Status``)."""
        check = self._transitions.get(name)
        return check is None or check(self.__dict__.get(name), value) is None

    def _set_field(self, name: str, value: Any) -> None:
        self.__dict__[name] = value

    # -- export -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-friendly data (nested elements as dicts)."""
        values = self.__dict__
        return {
            name: (convert(values[name]) if convert is not None else values[name])
            for name, convert in self._to_primitive
        }

    def _identity(self) -> Any:
        id_field = self._id_field
        return None if id_field is None else self.__dict__.get(id_field)

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={self.__dict__.get(n)!r}" for n, _ in self._field_items[:6])
        return f"{type(self).__name__}({shown})"


def _apply_renames(data: dict[str, Any], renames: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, Any]:
    """``data`` with values stored under a field's former name moved to its name."""
    moved: dict[str, Any] | None = None
    for name, former in renames:
        for old in former:
            if old in data:
                if moved is None:
                    moved = dict(data)
                value = moved.pop(old)
                moved.setdefault(name, value)
    return data if moved is None else moved


def stamp_dates(obj: Any, creating: bool) -> None:
    """Set ``auto_now`` fields (and ``auto_now_add`` ones when ``creating``) to now, before a save."""
    values = obj.__dict__
    for name, field in type(obj)._stamps:
        if field.auto_now or (creating and values.get(name) is None):  # type: ignore[attr-defined]
            values[name] = field.now()  # type: ignore[attr-defined]


def _raise_unresolved(cls: type) -> None:
    name, (_, text) = next(iter(cls._unresolved.items()))  # type: ignore[attr-defined]
    raise ConfigurationError(
        f"{cls.__name__}.{name}: the declaration {text!r} names something its module does not "
        "define; register the element with a domain and call domain.init(), or import the name"
    )


def _set_loaders(cls: type) -> None:
    """Give ``cls`` a generated ``_fill_from_primitive`` and ``_from_primitive`` (one
    assignment per field, no loop), unless it renames fields or overrides either."""
    framework = all(
        _uses_framework_method(cls, name, BaseModel.__dict__[name])
        for name in ("_from_primitive", "_fill_from_primitive")
    )
    if not framework:
        return
    if cls._renames:  # type: ignore[attr-defined]
        for name in ("_from_primitive", "_fill_from_primitive"):
            type.__setattr__(cls, name, BaseModel.__dict__[name])
        return
    items = cls._from_primitive_items  # type: ignore[attr-defined]
    hook = cls._after_load is not BaseModel._after_load  # type: ignore[attr-defined]
    for name, after_load in (("_fill_from_primitive", False), ("_from_primitive", hook)):
        generic = BaseModel.__dict__[name].__func__
        type.__setattr__(cls, name, classmethod(build_from_primitive(cls, items, name, after_load, generic)))


def _uses_framework_init(cls: type) -> bool:
    """True unless a user class in the MRO defines its own ``__init__``."""
    return _uses_framework_method(cls, "__init__", BaseModel.__init__)


def _uses_framework_method(cls: type, name: str, base: Any) -> bool:
    """True when ``cls`` gets method ``name`` from ``base`` or a generated one, not from an override."""
    for klass in cls.__mro__:
        method = klass.__dict__.get(name)
        if method is None:
            continue
        if isinstance(method, classmethod):
            return method is base or getattr(method.__func__, "_archipel_generated", False)
        return method is base or getattr(method, "_archipel_generated", False)
    return False


def fields_of(element: type | BaseModel) -> dict[str, Field]:
    """Return the fields of an element class or instance, in declaration order."""
    cls = element if isinstance(element, type) else type(element)
    return dict(getattr(cls, "_fields", {}))


def id_field_of(element: type | BaseModel) -> str | None:
    """Return the name of the identity field of an element, or None."""
    cls = element if isinstance(element, type) else type(element)
    return getattr(cls, "_id_field", None)


def _resolve_aliases(cls: type, kwargs: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    """``kwargs`` with each alias (``post_id``) given under its field's name (``post``).

    Both names given with values that differ is a ``ValidationError`` naming both.
    """
    resolved = dict(kwargs)
    cleaners: dict[str, Callable[[Any], Any]] = cls._cleaners  # type: ignore[attr-defined]
    for alias in aliases.keys() & kwargs.keys():
        name = aliases[alias]
        value = resolved.pop(alias)
        given = resolved.get(name)
        if given is not None and value is not None and _cleaned(cleaners[name], given) != _cleaned(cleaners[name], value):
            raise ValidationError({alias: [f"differs from {name} (give one of {name}= and {alias}=)"]})
        if given is None:
            resolved[name] = value
    return resolved


def _cleaned(clean: Callable[[Any], Any], value: Any) -> Any:
    try:
        return clean(value)
    except FieldError:
        return value  # reported by the constructor itself


def run_defaults(obj: BaseModel) -> None:
    """Call ``obj.defaults()`` with its writes unchecked one by one (``_after_init`` calls it)."""
    values = obj.__dict__
    atomic = values.get("_in_atomic_change", MISSING)
    values["_defaulting"] = True
    values["_in_atomic_change"] = True
    try:
        obj.defaults()
    finally:
        del values["_defaulting"]
        if atomic is MISSING:
            del values["_in_atomic_change"]
        else:
            values["_in_atomic_change"] = atomic
