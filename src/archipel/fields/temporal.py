"""Date fields: ``Date`` and ``DateTime`` (UTC), optionally stamped on save."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from archipel.fields.base import Field, FieldError, shown
from archipel.utils.clock import domain_now

__all__ = ["Date", "DateTime"]


class _Stamped(Field):
    """Date fields may be stamped when their object is saved (Django's ``auto_now*``)."""

    def __init__(self, *, auto_now: bool = False, auto_now_add: bool = False, **kwargs: Any) -> None:
        if auto_now and auto_now_add:
            raise TypeError("give auto_now (every save) or auto_now_add (first save), not both")
        super().__init__(**kwargs)
        #: set to now on every save
        self.auto_now = auto_now
        #: set to now on the first save (when still empty)
        self.auto_now_add = auto_now_add

    def now(self) -> Any:
        """The value to stamp (timezone-aware UTC; the active domain's clock)."""
        return domain_now()


class Date(_Stamped):
    """A calendar date; accepts ISO strings."""

    type_name = "date"

    def now(self) -> Any:
        return domain_now().date()

    def cast(self, value: Any) -> Any:
        if isinstance(value, _dt.datetime):
            if value.time() != _dt.time(0):
                # a date would drop the time of day: refuse rather than store it altered
                raise FieldError(
                    f"expected a date, got a datetime with a time of day ({value.isoformat()}): "
                    "pass its .date() to drop the time"
                )
            return value.date()
        if isinstance(value, _dt.date):
            return value
        if isinstance(value, str):
            try:
                return _dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise FieldError(f"expected a date (YYYY-MM-DD), got {shown(value)}")

    def as_primitive(self, value: Any) -> Any:
        return None if value is None else value.isoformat()

    def from_primitive(self, value: Any) -> Any:
        if value is None or isinstance(value, _dt.date):
            return value
        return _dt.date.fromisoformat(value)


class DateTime(_Stamped):
    """A point in time in UTC; accepts ISO strings.

    Values are normalised to UTC when the object is built, so every store keeps
    the same instant and text order is time order: an aware value is converted
    (``10:00+02:00`` -> ``08:00+00:00``), a naive one (or a date) is taken as UTC.
    """

    type_name = "datetime"

    def fast_clean(self) -> Callable[[Any], Any]:
        full = self.clean
        if self.choices is not None or self.validators:
            return full
        utc = _dt.UTC
        return lambda v: v if type(v) is _dt.datetime and v.tzinfo is utc else full(v)

    def cast(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = _dt.datetime.fromisoformat(value)
            except ValueError:
                raise FieldError(f"expected a date-time (ISO 8601), got {value[:60]!r}") from None
        if isinstance(value, _dt.datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                return value.replace(tzinfo=_dt.UTC)
            if value.tzinfo is _dt.UTC:
                return value
            try:
                return value.astimezone(_dt.UTC)
            except OverflowError:
                raise FieldError(f"is outside the years 1 to 9999 in UTC: {value}") from None
        if isinstance(value, _dt.date):
            return _dt.datetime(value.year, value.month, value.day, tzinfo=_dt.UTC)
        raise FieldError(f"expected a date-time (ISO 8601), got {shown(value)}")

    def as_primitive(self, value: Any) -> Any:
        return None if value is None else value.isoformat()

    def from_primitive(self, value: Any) -> Any:
        if value is None or isinstance(value, _dt.datetime):
            return value
        return _dt.datetime.fromisoformat(value)
