"""``entity.state_``: where an element stands against its store (Protean's names).

Read from what the element already carries (its stored version, its change
mark), so keeping it costs nothing on the write path. A child entity answers
for its aggregate, which is stored with it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ElementState"]


class ElementState:
    """``is_new``, ``is_persisted``, ``is_changed``, ``is_destroyed`` of one element.

    New until a unit of work that saved it commits (or it was loaded);
    persisted afterwards; changed when a field or association changed since it
    was loaded or saved (aggregates and their entities); destroyed once its
    repository removed it.
    """

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def _root_values(self) -> dict[str, Any]:
        values: dict[str, Any] = self._obj.__dict__
        root = values.get("_root")
        return root.__dict__ if root is not None else values  # type: ignore[no-any-return]

    @property
    def is_destroyed(self) -> bool:
        """True once the element's repository removed it."""
        return bool(self._root_values().get("_destroyed", False))

    @property
    def is_persisted(self) -> bool:
        """True when the element is stored as it was loaded or last saved (not destroyed)."""
        values = self._root_values()
        return values.get("_version", -1) >= 0 and not values.get("_destroyed", False)

    @property
    def is_new(self) -> bool:
        """True until the element is first stored (and never for a loaded one)."""
        values = self._root_values()
        return values.get("_version", -1) < 0 and not values.get("_destroyed", False)

    @property
    def is_changed(self) -> bool:
        """True when a stored element changed since it was loaded or saved."""
        return self.is_persisted and bool(self._root_values().get("_changed", False))

    def __repr__(self) -> str:
        flags = [n for n in ("new", "persisted", "changed", "destroyed") if getattr(self, f"is_{n}")]
        return f"<ElementState {', '.join(flags) or '-'}>"
