"""The compatibility report: classified changes and their Avro verdict.

Each :class:`CompatibilityChange` says whether Avro readers survive it in
each direction (BACKWARD: a new reader reads old data; FORWARD: an old
reader reads new data); the report folds them into one verdict, ``FULL``,
``BACKWARD``, ``FORWARD`` or ``NONE``, a direction holding only when every
change keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["AvroVerdict", "CompatibilityChange", "CompatibilityReport"]

AvroVerdict = Literal["FULL", "BACKWARD", "FORWARD", "NONE"]

#: (backward safe, forward safe) of each change type under Avro's rules; unknown types are neither
_AVRO: dict[str, tuple[bool, bool]] = {
    "element_added": (True, True),
    "element_removed": (False, False),
    "optional_field_added": (True, True),
    "required_field_with_default_added": (True, True),
    "required_field_added": (False, True),
    "field_removed": (True, False),
    "field_renamed": (True, False),
    "field_type_changed": (False, False),
    "field_precision_widened": (False, False),  # Avro resolves decimals only of equal precision and scale
    "type_string_changed": (False, False),
    # these move the publication contract or the replay path, not a payload byte
    "visibility_public_to_internal": (True, True),
    "visibility_internal_to_public": (True, True),
    "event_sourcing_changed": (True, True),
    "stream_category_changed": (True, True),
    "identity_field_changed": (True, True),
    "apply_handler_removed": (True, True),
    "reservation_removed": (True, True),
}


@dataclass
class CompatibilityChange:
    """One classified change. ``backward_safe``/``forward_safe`` override the change type's Avro
    default where safety depends on the field; ``field_name`` names the field when there is one."""

    severity: str
    element_fqn: str
    change_type: str
    message: str
    mitigated_by: str | None = None
    backward_safe: bool | None = None
    forward_safe: bool | None = None
    field_name: str | None = None

    def avro_safety(self) -> tuple[bool, bool]:
        """``(backward, forward)``: a new reader reads old data; an old reader reads new data."""
        table_backward, table_forward = _AVRO.get(self.change_type, (False, False))
        backward = table_backward if self.backward_safe is None else self.backward_safe
        forward = table_forward if self.forward_safe is None else self.forward_safe
        return backward or self.mitigated_by is not None, forward


def _verdict(changes: list[CompatibilityChange]) -> AvroVerdict:
    backward = all(c.avro_safety()[0] for c in changes)
    forward = all(c.avro_safety()[1] for c in changes)
    if backward and forward:
        return "FULL"
    return "BACKWARD" if backward else "FORWARD" if forward else "NONE"


@dataclass
class CompatibilityReport:
    """The breaking and the safe changes of a diff."""

    breaking_changes: list[CompatibilityChange] = field(default_factory=list)
    safe_changes: list[CompatibilityChange] = field(default_factory=list)

    @property
    def is_breaking(self) -> bool:
        return bool(self.breaking_changes)

    @property
    def avro_verdict(self) -> AvroVerdict:
        """The whole domain's verdict: a direction holds only if every change keeps it."""
        return _verdict(self.breaking_changes + self.safe_changes)

    def avro_verdicts_by_element(self) -> dict[str, AvroVerdict]:
        grouped: dict[str, list[CompatibilityChange]] = {}
        for change in self.breaking_changes + self.safe_changes:
            grouped.setdefault(change.element_fqn, []).append(change)
        return {fqn: _verdict(changes) for fqn, changes in grouped.items()}

    def avro_direction_breaks(self) -> list[tuple[Literal["BACKWARD", "FORWARD"], CompatibilityChange]]:
        """``(direction, change)`` for each direction a change breaks (why the verdict is not FULL)."""
        found: list[tuple[Literal["BACKWARD", "FORWARD"], CompatibilityChange]] = []
        for change in self.breaking_changes + self.safe_changes:
            backward, forward = change.avro_safety()
            if not backward:
                found.append(("BACKWARD", change))
            if not forward:
                found.append(("FORWARD", change))
        return found

    def add(self, breaking: bool, fqn: str, change_type: str, message: str, **extra: Any) -> None:
        change = CompatibilityChange("breaking" if breaking else "safe", fqn, change_type, message, **extra)
        (self.breaking_changes if breaking else self.safe_changes).append(change)


