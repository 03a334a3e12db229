"""The versioned ``llms.txt`` context pack (``archipel docs generate --type llms``).

Two layers, as Protean 0.18's ``generate_llms_txt``: the framework layer (a
title with the version, a one-line summary, links to the core documentation)
and, when an IR document is given, the project overlay: the domain's
aggregate clusters with their commands, events and handlers, and its
projections. The overlay is Protean's, byte for byte; the framework layer
names archipel and links to archipel's guide (``docs/guide.md`` in its
repository) where Protean's links to docs.proteanhq.com. Nothing volatile
(``generated_at``, ``checksum``) is read and every traversal is sorted, so the
same IR gives the same bytes.
"""

from __future__ import annotations

from typing import Any

from archipel.ir.mermaid import short_name

__all__ = ["llms_txt"]

_SUMMARY = (
    "archipel is a Python framework for business software as bounded contexts, with "
    "domain-driven design, CQRS and event sourcing (Protean 0.18's API)."
)
_GUIDE = "docs/guide.md"
_CORE_DOCS = (
    ("Aggregate clusters", "aggregates-entities-value-objects"),
    ("Events", "commands-and-events"),
    ("Commands and command handlers", "command-handlers-domainprocess"),
    ("Event handlers", "the-other-elements"),
    ("Projections", "the-other-elements"),
    ("Event evolution", "event-versions-and-upcasters"),
)


def _framework(version: str) -> list[str]:
    links = [f"- [{title}]({_GUIDE}#{anchor})" for title, anchor in _CORE_DOCS]
    return [f"# archipel {version}", "", f"> {_SUMMARY}", "", "## Core documentation", "", *links]


def _cluster(path: str, cluster: dict[str, Any]) -> list[str]:
    name = cluster.get("aggregate", {}).get("name") or short_name(path)
    lines = [f"- **{name}** (`{path}`)"]
    handlers = {short_name(p) for section in ("command_handlers", "event_handlers") for p in cluster.get(section, {})}
    for title, names in (("Commands", [short_name(p) for p in cluster.get("commands", {})]),
                         ("Events", [short_name(p) for p in cluster.get("events", {})]),
                         ("Handlers", list(handlers))):
        if names:
            lines.append(f"  - {title}: {', '.join(sorted(names))}")
    return lines


def _overlay(ir: dict[str, Any]) -> list[str]:
    domain = ir.get("domain", {}).get("name", "")
    lines = ["", f"## Project: {domain}" if domain else "## Project", "", "### Aggregate clusters", ""]
    clusters = ir.get("clusters", {})
    for path in sorted(clusters):
        lines += _cluster(path, clusters[path])
    if not clusters:
        lines.append("_No aggregate clusters._")
    projections = ir.get("projections", {})
    if projections:
        lines += ["", "### Projections", ""]
        for path in sorted(projections):
            name = projections[path].get("projection", {}).get("name") or short_name(path)
            lines.append(f"- **{name}** (`{path}`)")
    return lines


def llms_txt(ir: dict[str, Any] | None, *, version: str) -> str:
    """The pack: the framework layer, then the overlay of ``ir`` unless it is None (``{}`` counts)."""
    lines = _framework(version) + (_overlay(ir) if ir is not None else [])
    return "\n".join(lines) + "\n"

