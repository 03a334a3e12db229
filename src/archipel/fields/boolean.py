"""The ``Boolean`` field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archipel.fields.base import Field, FieldError, accepting, shown

__all__ = ["Boolean"]


class Boolean(Field):
    """True or False; accepts the strings "true"/"false" and 0/1."""

    type_name = "bool"

    def fast_clean(self) -> Callable[[Any], Any]:
        full = self.clean
        if self.choices is not None or self.validators:
            return full
        return accepting("v is True or v is False", full)
    _TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
    _FALSE = frozenset({"false", "f", "no", "n", "0", "off"})

    def cast(self, value: Any) -> Any:
        if value is True or value is False:
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in self._TRUE:
                return True
            if lowered in self._FALSE:
                return False
        raise FieldError(f"expected true or false, got {shown(value)}")
