"""Protean's field validators (``protean.fields.validators``), for ``validators=[...]``.

Each is a callable taking the (already converted) value and raising
:class:`~archipel.errors.ValidationError` with its ``message`` when the value fails;
a field reports that message under its own name (``{"code": ["invalid value"]}``).
``None`` is never validated (a field only runs validators on a value).
"""

from __future__ import annotations

import re
from typing import Any

from archipel.errors import ValidationError

__all__ = [
    "MaxLengthValidator",
    "MaxValueValidator",
    "MinLengthValidator",
    "MinValueValidator",
    "RegexValidator",
]


class MinLengthValidator:
    """Fails a value shorter than ``min_length`` (None: no bound)."""

    def __init__(self, min_length: int | None) -> None:
        self.min_length = min_length
        self.message = f"value has less than {min_length} characters"

    def __call__(self, value: Any) -> None:
        if self.min_length is not None and len(value) < self.min_length:
            raise ValidationError(self.message)


class MaxLengthValidator:
    """Fails a value longer than ``max_length`` (None: no bound)."""

    def __init__(self, max_length: int | None) -> None:
        self.max_length = max_length
        self.message = f"value has more than {max_length} characters"

    def __call__(self, value: Any) -> None:
        if self.max_length is not None and len(value) > self.max_length:
            raise ValidationError(self.message)


class MinValueValidator:
    """Fails a value below ``min_value`` (None: no bound)."""

    def __init__(self, min_value: Any) -> None:
        self.min_value = min_value
        self.message = f"value is lesser than {min_value}"

    def __call__(self, value: Any) -> None:
        if self.min_value is not None and value < self.min_value:
            raise ValidationError(self.message)


class MaxValueValidator:
    """Fails a value above ``max_value`` (None: no bound)."""

    def __init__(self, max_value: Any) -> None:
        self.max_value = max_value
        self.message = f"value is greater than {max_value}"

    def __call__(self, value: Any) -> None:
        if self.max_value is not None and value > self.max_value:
            raise ValidationError(self.message)


class RegexValidator:
    """Fails a value whose text has no match of ``regex`` (with ``inverse_match``: one
    that has a match). ``flags`` need ``regex`` given as text (``TypeError`` otherwise)."""

    def __init__(
        self,
        regex: str | re.Pattern[str] | None = None,
        message: str | None = None,
        code: str | None = None,
        inverse_match: bool | None = None,
        flags: int | None = None,
    ) -> None:
        if flags and regex is not None and not isinstance(regex, str):
            raise TypeError("flags need the regular expression as text, not a compiled pattern")
        self.message = "invalid value" if message is None else message
        self.code = "invalid" if code is None else code
        self.inverse_match = bool(inverse_match)
        self.flags = flags or 0
        self.regex: re.Pattern[str] = re.compile(regex if regex is not None else "", self.flags)

    def __call__(self, value: Any) -> None:
        found = self.regex.search(str(value)) is not None
        if found == self.inverse_match:
            raise ValidationError(self.message)
