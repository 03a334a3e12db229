"""The event catalog of an IR document (``archipel events catalog``; Protean's ``build_event_catalog``).

One entry per event of an aggregate cluster: name, dotted path, aggregate,
type string, version, published and fact-event flags, deprecation and
supersession, its upcaster chain (``ir["upcasters"]``, keyed by the event's
bare name) and its consumers (event handlers, projectors and process
managers whose handler maps name its type string), sorted by aggregate then
type string.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_event_catalog", "format_deprecated", "format_upcaster_chain"]


def _consumers_by_type(ir: dict[str, Any]) -> dict[str, set[str]]:
    consumers: dict[str, set[str]] = {}

    def collect(element: dict[str, Any]) -> None:
        name = element.get("name")
        if name:
            for type_string in element.get("handlers", {}):
                consumers.setdefault(type_string, set()).add(name)

    for cluster in ir.get("clusters", {}).values():
        for handler in cluster.get("event_handlers", {}).values():
            collect(handler)
    for projection in ir.get("projections", {}).values():
        for projector in projection.get("projectors", {}).values():
            collect(projector)
    for pm in ir.get("flows", {}).get("process_managers", {}).values():
        collect(pm)
    return consumers


def build_event_catalog(ir: dict[str, Any]) -> list[dict[str, Any]]:
    """The catalog entries of ``ir``'s cluster events (see the module's docstring)."""
    consumers = _consumers_by_type(ir)
    upcasters = ir.get("upcasters", {})
    entries: list[dict[str, Any]] = []
    for cluster in ir.get("clusters", {}).values():
        for path, event in cluster.get("events", {}).items():
            name = event.get("name") or path.rsplit(".", 1)[-1]
            type_string = event.get("__type__", "")
            entries.append({
                "name": name,
                "fqn": path,
                "aggregate": event.get("part_of", ""),
                "type": type_string,
                "version": event.get("__version__", 1),
                "published": bool(event.get("published", False)),
                "is_fact_event": bool(event.get("is_fact_event", False)),
                "deprecated": event.get("deprecated"),
                "superseded_by": event.get("superseded_by"),
                "upcasters": upcasters.get(name, []),
                "consumers": sorted(consumers.get(type_string, set())),
                "fields": event.get("fields", {}),
            })
    entries.sort(key=lambda e: (e["aggregate"], e["type"]))
    return entries


def format_deprecated(deprecated: Any) -> str:
    """``-``, ``since 1.2, removal 2.0``, ``since 1.2``, ``removal 2.0`` or ``yes``."""
    if deprecated is None:
        return "-"
    if isinstance(deprecated, dict):
        since, removal = deprecated.get("since"), deprecated.get("removal")
        if since and removal:
            return f"since {since}, removal {removal}"
        if since:
            return f"since {since}"
        if removal:
            return f"removal {removal}"
        return "yes"
    return str(deprecated)


def format_upcaster_chain(edges: list[dict[str, Any]]) -> str:
    """``v1→v2→v3``; a gap shows as ``…``; malformed edges are skipped; ``-`` when none."""
    pairs = sorted(
        (edge["from_version"], edge["to_version"])
        for edge in edges
        if "from_version" in edge and "to_version" in edge
    )
    if not pairs:
        return "-"
    parts = [f"v{pairs[0][0]}"]
    previous = pairs[0][0]
    for start, end in pairs:
        if start != previous:
            parts += ["…", f"v{start}"]
        parts.append(f"v{end}")
        previous = end
    return "→".join(parts)
