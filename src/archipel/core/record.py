"""``Record``: the read-only field selection ``QuerySet.only(...)`` yields."""

from __future__ import annotations

from typing import Any

__all__ = ["Record"]


class Record:
    """A read-only selection of one result's fields (``QuerySet.only(...)``).

    Not an element: it carries values, nothing else (no behaviour, no
    invariants, never saved). Read a value as ``record.status`` or
    ``record["status"]``; a field that was not selected raises
    ``AttributeError``/``KeyError`` (never a silent None). Records compare by
    value and are not hashable; they cannot be changed.
    """

    __slots__ = ("_data", "_entity_name")
    __hash__ = None  # type: ignore[assignment]

    _entity_name: str
    _data: dict[str, Any]

    def __init__(self, entity_name: str, data: dict[str, Any]) -> None:
        object.__setattr__(self, "_entity_name", entity_name)
        object.__setattr__(self, "_data", dict(data))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(
                f"{name!r} was not selected for this {self._entity_name} record "
                f"(selected: {', '.join(self._data)})"
            ) from None

    def __getitem__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise KeyError(
                f"{name!r} was not selected for this {self._entity_name} record"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a {self._entity_name} record is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a {self._entity_name} record is read-only")

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return self._entity_name == other._entity_name and self._data == other._data

    def keys(self) -> list[str]:
        """The selected field names, in selection order."""
        return list(self._data)

    def to_dict(self) -> dict[str, Any]:
        """A copy of the selected values."""
        return dict(self._data)

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v!r}" for k, v in self._data.items())
        return f"<Record {self._entity_name}({values})>"
