"""The IR dicts of read-side and coordination elements: projections and their projectors,
queries and query handlers, process managers."""

from __future__ import annotations

from typing import Any

from archipel.core.handler import handler_specs
from archipel.domain.element_schemas import fqn
from archipel.ir.elements import (
    base,
    handler_map,
    indexes_ir,
    opt,
    query_type,
    schema_name,
    subscription,
    type_key,
)
from archipel.ir.fields import fields_ir

__all__ = ["process_manager", "projection", "projector", "query", "query_handler"]


def _fqn_of(value: Any) -> str:
    return fqn(value) if isinstance(value, type) else str(value)


def projection(cls: type) -> dict[str, Any]:
    entry = base(cls, "PROJECTION")
    entry["fields"] = fields_ir(cls)
    entry["identity_field"] = getattr(cls, "_id_field", None)
    indexes = indexes_ir(cls)
    if indexes:
        entry["indexes"] = indexes
    order_by = opt(cls, "order_by") or ()
    entry["options"] = {
        "cache": opt(cls, "cache"),
        "externally_populated": bool(opt(cls, "externally_populated", False)),
        "limit": opt(cls, "limit", 100),
        "order_by": list(order_by),
        "provider": opt(cls, "provider", "default"),
        "schema_name": schema_name(cls),
    }
    return dict(sorted(entry.items()))


def _categories(cls: type) -> list[str]:
    """The stream categories a projector or process manager reads: given, else its aggregates'."""
    given = list(opt(cls, "stream_categories") or ())
    if given:
        return sorted(given)
    found = {getattr(getattr(a, "_meta", None), "stream_category", None) for a in (opt(cls, "aggregates") or ()) if isinstance(a, type)}
    return sorted(c for c in found if c)


def projector(cls: type) -> dict[str, Any]:
    entry = base(cls, "PROJECTOR")
    aggregates = opt(cls, "aggregates") or ()
    entry["aggregates"] = sorted(_fqn_of(a) for a in aggregates)
    projector_for = opt(cls, "projector_for")
    if projector_for is not None:
        entry["projector_for"] = _fqn_of(projector_for)
    entry["handlers"] = handler_map(cls)
    _sequencing(cls, entry)
    entry["stream_categories"] = _categories(cls)
    return dict(sorted(entry.items()))


def _sequencing(cls: type, entry: dict[str, Any]) -> None:
    sequential_by = opt(cls, "sequential_by")
    if sequential_by is not None:
        entry["sequential_by"] = sequential_by
    entry["subscription"] = subscription(cls)


def query(cls: type) -> dict[str, Any]:
    entry = base(cls, "QUERY")
    entry["__type__"] = query_type(cls)
    entry["fields"] = fields_ir(cls)
    part_of = opt(cls, "part_of")
    if part_of is not None:
        entry["part_of"] = _fqn_of(part_of)
    return dict(sorted(entry.items()))


def query_handler(cls: type) -> dict[str, Any]:
    entry = base(cls, "QUERY_HANDLER")
    entry["handlers"] = handler_map(cls)
    part_of = opt(cls, "part_of")
    if part_of is not None:
        entry["part_of"] = _fqn_of(part_of)
    return dict(sorted(entry.items()))


def process_manager(cls: type) -> dict[str, Any]:
    entry = base(cls, "PROCESS_MANAGER")
    entry["fields"] = fields_ir(cls)
    handlers: dict[str, Any] = {}
    for spec in handler_specs(cls):
        key = type_key(spec.target)
        slot = handlers.setdefault(key, {"end": bool(spec.end), "methods": [], "start": bool(spec.start)})
        if spec.correlate is not None and "correlate" not in slot:
            slot["correlate"] = dict(spec.correlate) if isinstance(spec.correlate, dict) else str(spec.correlate)
        slot["methods"] = sorted({*slot["methods"], spec.method_name})
    entry["handlers"] = {key: dict(sorted(value.items())) for key, value in sorted(handlers.items())}
    identity = getattr(cls, "_id_field", None)
    if identity:  # archipel keys an instance by its correlation value: no identity field unless declared
        entry["identity_field"] = identity
    entry["stream_categories"] = _categories(cls)
    category = opt(cls, "stream_category")
    if category:
        entry["stream_category"] = category
    _sequencing(cls, entry)
    return dict(sorted(entry.items()))
