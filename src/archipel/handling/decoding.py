"""Rebuilding typed messages from their stored form, with upcasting.

A stored message is ``{"metadata": {...}, "data": {...}}``. Its type string
(``<Domain>.<Name>.v<N>``) finds the class in the domain's router; when the
stored version is older than the registered one, the domain's upcasters
(``@domain.upcaster(event_type="<Domain>.<Name>", from_version=1,
to_version=2)``) convert the data step by step first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archipel.errors import ConfigurationError

if TYPE_CHECKING:
    from archipel.handling.protocols import DomainLike

__all__ = ["message_from_stored", "split_type"]


def split_type(type_string: str) -> tuple[str, int]:
    """``"Shop.OrderPlaced.v2"`` -> ``("Shop.OrderPlaced", 2)``."""
    base, _, version = type_string.rpartition(".v")
    if not base or not version.isdigit():
        return type_string, 1
    return base, int(version)


def message_from_stored(domain: DomainLike, stored: dict[str, Any]) -> Any:
    """The typed message for ``stored``, or None when the domain has no class for it."""
    metadata = stored.get("metadata") or {}
    type_string = metadata.get("type") or ""
    cls: Any = domain.router.messages.get(type_string)
    if cls is not None:
        return cls.from_message(stored)
    base, version = split_type(type_string)
    upcasters = {
        (u._meta.get("event_type"), u._meta.get("from_version")): u
        for u in domain.registry.of_kind("upcaster").values()
    }
    data = dict(stored.get("data") or {})
    current = version
    while (base, current) in upcasters:
        upcaster = upcasters[(base, current)]
        data = upcaster().upcast(data)
        next_version = upcaster._meta.get("to_version") or current + 1
        if next_version <= current:
            raise ConfigurationError(
                f"upcaster {upcaster.__name__} must raise the version (from {current} to more)"
            )
        current = next_version
        cls = domain.router.messages.get(f"{base}.v{current}")
        if cls is not None:
            metadata = {**metadata, "type": f"{base}.v{current}", "version": current}
            return cls.from_message({"metadata": metadata, "data": data})
    return None
