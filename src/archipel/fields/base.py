"""The field protocol shared by every field type.

A field is declared as a class attribute of an element (aggregate, entity,
value object, command, event, projection, process manager). It is a
*non-data* descriptor: reading ``instance.name`` is a plain ``__dict__``
lookup (no Python-level call on the hot path), while ``Class.name`` returns
the field itself. Writes are validated by the owning element's
``__setattr__``, which calls :meth:`Field.clean`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from archipel.errors import ValidationError

__all__ = ["Field", "FieldError", "MISSING", "accepting", "shown"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages; never raises
    (an int beyond Python's 4300-digit limit has no repr)."""
    try:
        text = repr(value)
    except ValueError:
        return f"an integer of {value.bit_length()} bits" if isinstance(value, int) else "a value"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class FieldError(Exception):
    """Raised by :meth:`Field.clean`; carries the messages for one field.

    ``code`` names the rule that failed when a field's ``error_messages`` may
    replace the message (:data:`ERROR_MESSAGE_KEYS`), else None.
    """

    def __init__(self, messages: list[str] | str, code: str | None = None) -> None:
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        self.code = code
        super().__init__("; ".join(self.messages))


#: the ``error_messages`` keys a field takes (Protean's): the rule each message replaces
ERROR_MESSAGE_KEYS = frozenset(
    {"required", "invalid", "invalid_choice", "max_length", "min_length", "max_value", "min_value"}
)


def _error_messages(given: Mapping[str, str] | None) -> dict[str, str] | None:
    if not given:
        return None
    unknown = sorted(set(given) - ERROR_MESSAGE_KEYS)
    if unknown:
        raise TypeError(
            f"error_messages takes the keys {', '.join(sorted(ERROR_MESSAGE_KEYS))}; "
            f"got {', '.join(map(repr, unknown))}"
        )
    if not all(isinstance(text, str) for text in given.values()):
        raise TypeError("error_messages values are the messages (text)")
    return dict(given)


def _custom(text: str, value: Any) -> str:
    """``text`` with ``{value}`` filled in (a message with other braces is kept as written)."""
    try:
        return text.format(value=value)
    except (KeyError, IndexError, ValueError, AttributeError):
        return text


_ATOMS = (str, int, float, bool, type(None))

#: the builtins a condition given to :func:`accepting` may name (besides ``v``)
CONDITION_BUILTINS = frozenset({"type", "len", "str", "int", "float", "bool"})


def accepting(condition: str, full: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The cleaner ``v if <condition> else full(v)``, with ``condition`` kept as its
    ``condition`` attribute.

    ``condition`` is a Python expression over ``v`` naming nothing but ``v``,
    literals and :data:`CONDITION_BUILTINS`; it must hold only for values
    ``full`` returns unchanged. Generated constructors
    (:mod:`archipel.core._codegen`) inline it, so an already-valid value costs
    no call; any other value still goes through ``full``.
    """
    namespace: dict[str, Any] = {"full": full}
    clean: Callable[[Any], Any] = eval(f"lambda v: v if ({condition}) else full(v)", namespace)  # noqa: S307 - the fields' own literals
    clean.condition = condition  # type: ignore[attr-defined]
    return clean


def _fresh_copy(default: list[Any] | dict[Any, Any] | set[Any]) -> Callable[[], Any]:
    """A factory of copies of a mutable default, so no two instances share any part of it."""
    kind = type(default)
    items = default.values() if isinstance(default, dict) else default
    if all(isinstance(item, _ATOMS) for item in items):
        return lambda: kind(default)  # a shallow copy is a full copy
    return lambda: copy.deepcopy(default)


class Field:
    """Base class of all field types.

    Options common to every field:

    - ``required``: ``None`` is rejected (after defaults are applied).
    - ``default``: a value, or a zero-argument callable called per instance.
    - ``identifier``: this field is the element's identity.
    - ``unique``: storage adapters enforce uniqueness.
    - ``choices``: the value must be one of these (an ``Enum`` class works).
    - ``validators``: callables ``f(value)`` that raise ``ValueError`` (or
      :class:`FieldError`) with a message when the value is not acceptable.
    - ``description``: free text shown by tools.
    - ``referenced_as``: the name this field is known by outside the model.
    - ``renamed_from``: former name(s); stored records and messages that still
      carry a former name load into this field.
    """

    #: Python type name shown in error messages and used by storage adapters.
    type_name = "any"

    def __init__(
        self,
        *,
        required: bool = False,
        default: Any = None,
        identifier: bool = False,
        unique: bool = False,
        choices: Iterable[Any] | type | None = None,
        validators: Sequence[Callable[[Any], Any]] = (),
        referenced_as: str | None = None,
        description: str | None = None,
        renamed_from: str | Sequence[str] | None = None,
        error_messages: Mapping[str, str] | None = None,
    ) -> None:
        self.name: str = ""
        #: messages replacing the built-in ones, by rule (:data:`ERROR_MESSAGE_KEYS`)
        self.error_messages = _error_messages(error_messages)
        #: former names of this field: stored data and messages using them still load
        self.renamed_from: tuple[str, ...] = (
            (renamed_from,) if isinstance(renamed_from, str) else tuple(renamed_from or ())
        )
        if not all(isinstance(n, str) and n for n in self.renamed_from):
            raise TypeError(f"renamed_from takes field names, got {renamed_from!r}")
        self.required = required
        self.identifier = identifier
        self.unique = unique or identifier
        self.validators = tuple(validators)
        self.referenced_as = referenced_as
        self.description = description
        self._default = default
        self._default_is_callable = callable(default)
        self.choices: tuple[Any, ...] | None = None
        if choices is not None:
            values = [getattr(c, "value", c) for c in choices]  # type: ignore[union-attr]
            self.choices = tuple(values)

    # -- descriptor -----------------------------------------------------
    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def field_name(self) -> str:
        """The field's name in its class (Protean's ``field_name``; ``name`` here)."""
        return self.name

    @property
    def attribute_name(self) -> str:
        """The name the field is stored and sent under: ``referenced_as``, else its name."""
        return self.referenced_as or self.name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        # Only reached when the instance dict has no value yet.
        return instance.__dict__.get(self.name)

    # -- values ---------------------------------------------------------
    def get_default(self) -> Any:
        """Return the default value for a new instance (calls callables)."""
        if self._default_is_callable:
            return self._default()
        default = self._default
        if isinstance(default, (list, dict, set)):
            return _fresh_copy(default)()
        return default

    def set_default(self, default: Any) -> None:
        """Give the field ``default`` (``name: String() = "x"`` declares it after the field)."""
        self._default = default
        self._default_is_callable = callable(default)

    @property
    def has_default(self) -> bool:
        return self._default is not None

    def clean(self, value: Any) -> Any:
        """Return ``value`` converted to the field's type, or raise FieldError
        (with the field's ``error_messages`` for the rule that failed, if given)."""
        if self.error_messages is None:
            return self._clean(value)
        try:
            return self._clean(value)
        except FieldError as exc:
            custom = self.error_messages.get(exc.code or "")
            if custom is None:
                raise
            raise FieldError(_custom(custom, value), exc.code) from None

    def _clean(self, value: Any) -> Any:
        if value is None:
            if self.required:
                raise FieldError("is required", "required")
            return None
        try:
            value = self.cast(value)
        except FieldError as exc:
            if exc.code is None:
                exc.code = "invalid"
            raise
        if self.choices is not None:
            plain = getattr(value, "value", value)
            if plain not in self.choices:
                raise FieldError(
                    f"value {shown(plain)} is not a valid choice; allowed: "
                    + ", ".join(repr(c) for c in self.choices),
                    "invalid_choice",
                )
            value = plain
        self.check(value)
        for validator in self.validators:
            try:
                validator(value)
            except FieldError:
                raise
            except ValidationError as exc:
                # Protean's validators raise it: its messages become this field's
                raise FieldError([m for messages in exc.messages.values() for m in messages]) from None
            except (ValueError, TypeError) as exc:
                raise FieldError(str(exc)) from None
        return value

    def fast_clean(self) -> Callable[[Any], Any]:
        """A cleaner equivalent to :meth:`clean`, specialised for the common case.

        Element classes call it once at class creation; subclasses return a
        closure that accepts already-valid values without further calls and
        falls back to :meth:`clean` otherwise.
        """
        return self.clean

    def default_factory(self) -> Callable[[], Any] | None:
        """A zero-argument callable producing the default, or None if there is none."""
        default = self._default
        if default is None:
            return None
        if self._default_is_callable:
            return default  # type: ignore[no-any-return]
        if isinstance(default, (list, dict, set)):
            return _fresh_copy(default)
        factory = lambda: default  # noqa: E731 - a function object, to carry the attribute below
        # the one object it returns, for generated ``__init__``s to bind instead of calling it
        factory._archipel_constant = (default,)  # type: ignore[attr-defined]
        return factory

    def cast(self, value: Any) -> Any:
        """Convert a non-None value; raise FieldError when impossible."""
        return value

    def check(self, value: Any) -> None:
        """Check constraints on a converted, non-None value."""

    def as_primitive(self, value: Any) -> Any:
        """Return a JSON-friendly form of a cleaned value."""
        return value

    def from_primitive(self, value: Any) -> Any:
        """Inverse of :meth:`as_primitive`, without validation (trusted data)."""
        return value

    def resolve(self, resolver: Callable[[str], type]) -> None:
        """Resolve string references to classes (associations override)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
