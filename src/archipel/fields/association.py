"""Fields that hold other domain elements (Protean's ``protean.fields.association``).

``HasMany``/``HasOne`` hold entities that belong to the aggregate; ``Reference``
holds the identity of another element. Element classes may be named by string
(``HasMany("OrderItem")``); ``Domain.init()`` resolves them. Embedded value
objects (:mod:`archipel.fields.embedded`) share ``_Embedded`` with ``HasOne``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archipel.fields.base import Field, FieldError, shown
from archipel.fields.simple import check_identity

__all__ = ["Association", "HasMany", "HasOne", "Reference"]


class Association(Field):
    """Base of fields whose content is another element class."""

    def __init__(self, to_cls: type | str, *, via: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._to: type | str = to_cls
        #: (``HasMany``/``HasOne``) the child's field that holds its parent's identity
        self.via = via
        #: ``via`` was found by ``Domain.init()`` (the child's one Reference to the owner), not declared
        self.via_derived = False

    @property
    def to_cls(self) -> type:
        if isinstance(self._to, str):
            raise FieldError(
                f"{self._to!r} is not resolved yet: register it with the domain and call domain.init()"
            )
        return self._to

    @property
    def target_name(self) -> str:
        return self._to if isinstance(self._to, str) else self._to.__name__

    def resolve(self, resolver: Callable[[str], type]) -> None:
        if isinstance(self._to, str):
            self._to = resolver(self._to)

    def _build(self, value: Any) -> Any:
        cls = self.to_cls
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            from archipel.errors import ValidationError

            odd = next((key for key in value if type(key) is not str), None)
            if odd is not None:
                raise FieldError(f"keys must be field names (text), got {shown(odd)}")

            try:
                return cls(**value)
            except ValidationError as exc:
                raise FieldError(
                    [f"{k}: {'; '.join(v)}" for k, v in exc.messages.items()]
                ) from None
        raise FieldError(f"expected {cls.__name__} or a mapping, got {type(value).__name__}")


class _Embedded(Association):
    """One nested element, stored as its ``to_dict()``."""

    def cast(self, value: Any) -> Any:
        return self._build(value)

    def as_primitive(self, value: Any) -> Any:
        return None if value is None else value.to_dict()

    def from_primitive(self, value: Any) -> Any:
        if value is None or not isinstance(value, dict):
            return value
        return self.to_cls._from_primitive(value)  # type: ignore[attr-defined]


class HasMany(Association):
    """Entities owned by the aggregate; ``add_<name>``/``remove_<name>`` are generated."""

    type_name = "has_many"

    def __init__(self, to_cls: type | str, **kwargs: Any) -> None:
        kwargs.setdefault("default", list)
        super().__init__(to_cls, **kwargs)

    def cast(self, value: Any) -> Any:
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
            raise FieldError(f"expected a list of {self.target_name}, got {type(value).__name__}")
        return [self._build(item) for item in value]

    def as_primitive(self, value: Any) -> Any:
        return [] if value is None else [item.to_dict() for item in value]

    def from_primitive(self, value: Any) -> Any:
        if not value:
            return []
        cls = self.to_cls
        return [cls._from_primitive(item) for item in value]  # type: ignore[attr-defined]


class HasOne(_Embedded):
    """One entity owned by the aggregate."""

    type_name = "has_one"


class Reference(Association):
    """The identity of another aggregate or entity (an instance is accepted too)."""

    type_name = "identifier"

    def cast(self, value: Any) -> Any:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            if isinstance(value, int) and not -(10**255) < value < 10**255:
                raise FieldError("must be at most 255 characters long (an identity)")
            return check_identity(value if type(value) is str else str(value))
        identity = getattr(value, "_identity", None)
        if callable(identity):
            return identity()
        raise FieldError(f"expected an identity of {self.target_name}, got {shown(value)}")
