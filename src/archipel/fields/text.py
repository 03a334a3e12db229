"""Text fields: ``String`` (bounded) and ``Text`` (any length)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archipel.fields.base import Field, FieldError, accepting
from archipel.fields.limits import check_text

__all__ = ["String", "Text"]


class String(Field):
    """A string of at most ``max_length`` (default 255) characters.

    Text with a NUL character or a lone surrogate is refused: no store keeps it.
    ``sanitize=True`` cleans the text of HTML as Protean does (``bleach.clean``: tags
    outside bleach's small safelist are escaped, unsafe attributes dropped); it needs
    ``pip install 'archipel[sanitize]'``, and the length limits apply to the clean text.
    Left unset (None), the domain's ``[field_defaults] sanitize`` decides (default false).
    """

    type_name = "str"

    def __init__(
        self,
        max_length: int | None = 255,
        min_length: int | None = None,
        sanitize: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for option, length in (("max_length", max_length), ("min_length", min_length)):
            if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length < 0):
                raise TypeError(f"{option} takes a whole number >= 0, got {length!r}")
        if max_length is not None and min_length is not None and min_length > max_length:
            raise TypeError(f"min_length {min_length} is above max_length {max_length}: no text fits")
        self.max_length = max_length
        self.min_length = min_length
        self.sanitize = sanitize

    def cast(self, value: Any) -> Any:
        if self.sanitize:
            return _sanitized(self._cast(value))
        return self._cast(value)

    def _cast(self, value: Any) -> Any:
        if type(value) is str:
            return check_text(value)
        if isinstance(value, (dict, list, tuple, set, bytes, bytearray)):
            raise FieldError(f"expected text, got {type(value).__name__}")
        try:
            return check_text(str(getattr(value, "value", value)))
        except ValueError:  # e.g. an int beyond Python's 4300-digit conversion limit
            raise FieldError(f"expected text, got a {type(value).__name__} with no text form") from None

    def fast_clean(self) -> Callable[[Any], Any]:
        full = self.clean
        if self.choices is not None or self.validators or self.min_length or self.sanitize:
            return full
        limit = self.max_length
        # plain ASCII text without NUL is accepted without a call; the rest is checked in full
        if limit is None:
            return accepting('type(v) is str and v.isascii() and "\\x00" not in v', full)
        return accepting(f'type(v) is str and len(v) <= {int(limit)} and v.isascii() and "\\x00" not in v', full)

    def check(self, value: Any) -> None:
        if self.max_length is not None and len(value) > self.max_length:
            raise FieldError(f"must be at most {self.max_length} characters long", "max_length")
        if self.min_length is not None and len(value) < self.min_length:
            raise FieldError(f"must be at least {self.min_length} characters long", "min_length")


class Text(String):
    """A string of any length."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", None)
        super().__init__(**kwargs)


def _sanitized(text: str) -> str:
    """``text`` cleaned of HTML by bleach (an optional dependency, imported when first used)."""
    try:
        import bleach  # type: ignore[import-untyped]  # pure functions; the [sanitize] extra
    except ImportError:
        raise FieldError(
            "String(sanitize=True) needs bleach: pip install 'archipel[sanitize]'"
        ) from None
    return check_text(bleach.clean(text))
