"""The domain's clock: ``domain.clock`` (Protean's ``Clock`` and ``SystemClock``).

Every time archipel stamps — a message's ``time``, ``DateTime(auto_now=...)`` fields,
a command's ``deadline``/``timeout`` — comes from the active domain's clock (default
:class:`SystemClock`, real UTC time). A test freezes time by giving the domain a
stub clock, as in Protean::

    class Frozen:
        def now(self): return datetime(2026, 1, 1, tzinfo=UTC)

    domain.clock = Frozen()

A clock returning a naive datetime is read as UTC. Outside any domain context the
system clock is used. Only the standard library: every layer may read it.
"""

from __future__ import annotations

import datetime as _dt
from typing import Protocol, runtime_checkable

from archipel.utils.scope import DOMAINS, scope

__all__ = ["Clock", "SystemClock", "domain_now", "note_custom_clock"]

_now = _dt.datetime.now
_UTC = _dt.UTC


@runtime_checkable
class Clock(Protocol):
    """A source of the current time: ``now()`` returns a timezone-aware UTC datetime."""

    def now(self) -> _dt.datetime: ...


class SystemClock:
    """The default clock: the real time, timezone-aware UTC."""

    def now(self) -> _dt.datetime:
        return _now(_UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


#: True once any domain was given a clock other than a :class:`SystemClock`; until then
#: :func:`domain_now` reads the system time without looking the domain up (hot path)
custom_clocks = False


def note_custom_clock() -> None:
    """Record that a domain has a clock of its own (``Domain.clock``'s setter calls it)."""
    global custom_clocks
    custom_clocks = True


def domain_now() -> _dt.datetime:
    """The active domain's time (timezone-aware UTC); the system's outside any domain."""
    if custom_clocks:
        domains = scope.get()[DOMAINS]
        if domains:
            clock = domains[-1].clock
            if clock.__class__ is not SystemClock:
                return clock_time(clock)
    return _now(_UTC)


def clock_time(clock: Clock) -> _dt.datetime:
    """``clock.now()``, naive read as UTC, other zones converted to UTC."""
    value = clock.now()
    if not isinstance(value, _dt.datetime):
        raise TypeError(f"{clock!r}.now() returned {value!r}, not a datetime")
    return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
