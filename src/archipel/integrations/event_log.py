"""``EventLog``: the events a test sentence saw, with Pythonic access (``archipel.testing``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["EventLog"]


class EventLog:
    """Events with Pythonic access: ``Cls in log``, ``log[Cls]``, ``log[0]``, ``log.get(Cls)``."""

    def __init__(self, events: list[Any]) -> None:
        self._events = list(events)

    def __contains__(self, event_cls: type) -> bool:
        return any(isinstance(e, event_cls) for e in self._events)

    def __getitem__(self, key: type | int) -> Any:
        """The first event of class ``key`` (``KeyError`` if none), or the event at index ``key``."""
        if isinstance(key, type):
            found = self.get(key)
            if found is None:
                raise KeyError(f"no {key.__name__} event")
            return found
        return self._events[key]

    def get(self, event_cls: type, default: Any = None) -> Any:
        """The first event of class ``event_cls``, or ``default``."""
        return next((e for e in self._events if isinstance(e, event_cls)), default)

    def of_type(self, event_cls: type) -> list[Any]:
        """Every event of class ``event_cls``, in order."""
        return [e for e in self._events if isinstance(e, event_cls)]

    @property
    def types(self) -> list[type]:
        """The classes of the events, in order."""
        return [type(e) for e in self._events]

    @property
    def first(self) -> Any:
        return self._events[0] if self._events else None

    @property
    def last(self) -> Any:
        return self._events[-1] if self._events else None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def __bool__(self) -> bool:
        return bool(self._events)

    def __repr__(self) -> str:
        return f"EventLog({[t.__name__ for t in self.types]})"
