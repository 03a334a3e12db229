"""Mermaid and naming helpers for the documentation generated from an IR document.

The text rules of Protean 0.18's ``protean.ir.generators.base``, so that
``archipel docs generate`` writes, for the same IR, the bytes ``protean docs
generate`` writes: labels with a Mermaid delimiter in them are double-quoted
(a ``"`` inside becomes ``#quot;``), node ids are the dotted path with every
run of non-word characters turned into ``_``, and a field reads as its type
(``String``, ``OrderItem[]``, ``List[Address]``) with its constraints.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "command_paths_by_type",
    "event_paths_by_type",
    "field_type_label",
    "fence",
    "label",
    "mermaid_field_summary",
    "node_id",
    "short_name",
]

_DELIMITERS = re.compile(r'[|{}\[\]()<>#"&]')
_BACKTICKS = re.compile(r"`+")
_NON_WORD = re.compile(r"\W+")


def label(text: str) -> str:
    """``text`` as a Mermaid label: quoted when it holds a delimiter (``[]``, ``|``, ``#``...)."""
    if text and _DELIMITERS.search(text):
        return '"' + text.replace('"', "#quot;") + '"'
    return text


def fence(body: str, *, title: str = "") -> str:
    """``body`` in a ```` ```mermaid ```` block, under ``## title`` when given.

    The fence is longer than any run of backticks in ``body`` (at least three).
    """
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    marks = "`" * max(3, longest + 1)
    head = [f"## {title}\n"] if title else []
    return "\n".join([*head, f"{marks}mermaid", body, marks])


def short_name(path: str) -> str:
    """The class name of a dotted path (``app.orders.Order`` → ``Order``)."""
    return path.rsplit(".", 1)[-1] if path else path


def node_id(text: str) -> str:
    """A Mermaid node id for ``text``: non-word runs become ``_``; ``node`` when nothing is left."""
    return _NON_WORD.sub("_", text).strip("_") or "node"


def field_type_label(field: dict[str, Any]) -> str:
    """How a field's type reads: ``Auto``, ``String``, ``Address``, ``Item[]``, ``List[X]``, ``Dict``."""
    kind = field.get("kind", "standard")
    target = field.get("target", "")
    if kind == "auto":
        return "Auto"
    if kind in ("value_object", "has_one", "reference"):
        return short_name(target) if target else str(kind)
    if kind == "has_many":
        return f"{short_name(target) if target else '?'}[]"
    if kind == "value_object_list":
        return f"List[{short_name(target) if target else '?'}]"
    if kind == "list":
        content = field.get("content_type", "")
        return f"List[{content}]" if content else "List"
    if kind == "dict":
        return "Dict"
    type_name: str = field.get("type", "?")
    return type_name


def mermaid_field_summary(field: dict[str, Any]) -> str:
    """The type with its constraints as a Mermaid generic (``String~required~``): no parentheses,
    which a ``classDiagram`` would read as a method."""
    tags = []
    if field.get("identifier"):
        tags.append("identifier")
    else:
        tags += [tag for tag in ("required", "unique") if field.get(tag)]
    text = field_type_label(field)
    return f"{text}~{', '.join(tags)}~" if tags else text


def _paths_by_type(ir: dict[str, Any], section: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for cluster in ir.get("clusters", {}).values():
        for path, element in cluster.get(section, {}).items():
            type_string = element.get("__type__", "")
            if type_string:
                found[type_string] = path
    return found


def command_paths_by_type(ir: dict[str, Any]) -> dict[str, str]:
    """Each command's type string (``Shop.PlaceOrder.v1``) → its dotted path."""
    return _paths_by_type(ir, "commands")


def event_paths_by_type(ir: dict[str, Any]) -> dict[str, str]:
    """Each event's type string (``Shop.OrderPlaced.v1``) → its dotted path."""
    return _paths_by_type(ir, "events")
