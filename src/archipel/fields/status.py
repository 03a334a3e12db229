"""``Status``: a field holding one value of an ``Enum``, with allowed transitions enforced."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

from archipel.fields.text import String

__all__ = ["Status"]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


class Status(String):
    """One of ``enum_cls``'s values (stored as the plain value).

    With ``transitions={Draft: [Placed], Placed: [Confirmed, Cancelled]}``,
    changing the value of an existing object is checked: only the listed
    moves are allowed, a state that is not a key is terminal, and staying in
    the same state is allowed only when it lists itself. Setting a value on
    a new object (from None) and loading from storage are not checked.
    """

    def __init__(
        self,
        enum_cls: type[enum.Enum],
        *,
        transitions: Mapping[Any, Iterable[Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        if not (isinstance(enum_cls, type) and issubclass(enum_cls, enum.Enum)):
            raise TypeError(f"Status() takes an Enum class first, got {enum_cls!r}")
        kwargs["choices"] = enum_cls
        if isinstance(kwargs.get("default"), enum.Enum):
            kwargs["default"] = kwargs["default"].value
        kwargs.setdefault("max_length", max(len(str(m.value)) for m in enum_cls))
        super().__init__(**kwargs)
        self.enum_cls = enum_cls
        self.transitions: dict[Any, tuple[Any, ...]] | None = None
        if transitions is not None:
            self.transitions = {
                _plain(source): tuple(_plain(t) for t in targets) for source, targets in transitions.items()
            }

    def transition_error(self, current: Any, target: Any) -> str | None:
        """Why moving from ``current`` to ``target`` is not allowed, or None when it is."""
        if self.transitions is None or current is None:
            return None
        current, target = _plain(current), _plain(target)
        if current not in self.transitions:
            return f"cannot change from {current!r}: it is a terminal state"
        allowed = self.transitions[current]
        if target in allowed:
            return None
        if target == current:
            return f"re-entering {current!r} is not allowed (list it among its own targets to allow it)"
        return f"cannot change from {current!r} to {target!r}; allowed: " + ", ".join(map(repr, allowed))
