"""The IR dict of one element, per kind (Protean's ``element_type`` shapes).

Each function takes a registered element class and returns its entry,
sparse and key-sorted as Protean writes it: ``description`` (the
docstring) and ``deprecated`` only when present, ``resilience`` only when
a retry/deadline option is set, and so on.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from archipel.core.handler import ANY, handler_specs
from archipel.core.invariant import collect_invariants
from archipel.domain.element_schemas import fqn
from archipel.ir.fields import fields_ir

__all__ = ["EXTRACTORS", "aggregate_of", "base", "handler_map", "opt", "schema_name", "query_type", "subscription", "type_key"]


def base(cls: type, element_type: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "element_type": element_type,
        "fqn": fqn(cls),
        "module": cls.__module__,
        "name": cls.__name__,
    }
    doc = (cls.__doc__ or "").strip()
    if doc and not _inherited_doc(cls):
        entry["description"] = doc
    deprecated = getattr(cls._meta, "deprecated", None)  # type: ignore[attr-defined]
    if deprecated:
        entry["deprecated"] = dict(deprecated)
    return entry


def _inherited_doc(cls: type) -> bool:
    """Whether ``cls`` has no docstring of its own (archipel's base classes' would show)."""
    return "__doc__" not in vars(cls) or vars(cls)["__doc__"] is None


def opt(cls: type, name: str, default: Any = None) -> Any:
    return getattr(cls._meta, name, default)  # type: ignore[attr-defined]


def aggregate_of(cls: type) -> type | None:
    """The aggregate at the root of ``cls``'s ``part_of`` chain (``None`` when it has none)."""
    part_of = opt(cls, "part_of")
    seen = 0
    while isinstance(part_of, type) and seen < 32:
        if getattr(part_of._meta, "kind", "") == "aggregate":  # type: ignore[attr-defined]
            return part_of
        part_of = getattr(part_of._meta, "part_of", None)  # type: ignore[attr-defined]
        seen += 1
    return None


def _invariants(cls: type) -> dict[str, list[str]]:
    pre, post = collect_invariants(cls)
    return {"post": sorted(f.__name__ for f in post), "pre": sorted(f.__name__ for f in pre)}


def type_key(target: Any) -> str:
    """The handler-map key of a ``@handle``/``@read`` target: its type string (``$any`` as is)."""
    if target == ANY:
        return ANY
    meta = getattr(target, "_meta", None)
    if getattr(meta, "kind", "") == "query":
        return query_type(target)
    type_string = getattr(meta, "type_string", None)
    return type_string or (fqn(target) if isinstance(target, type) else str(target))


def query_type(cls: type) -> str:
    """A query's name in the IR, Protean's ``<Domain>.<Query>`` (queries carry no version)."""
    domain = getattr(cls._meta, "domain", None)  # type: ignore[attr-defined]
    return f"{domain.camel_case_name}.{cls.__name__}" if domain is not None else cls.__name__


def handler_map(cls: type) -> dict[str, list[str]]:
    """``{type string: sorted method names}`` of a handler class."""
    found: dict[str, set[str]] = {}
    for spec in handler_specs(cls):
        found.setdefault(type_key(spec.target), set()).add(spec.method_name)
    return {key: sorted(methods) for key, methods in sorted(found.items())}


def subscription(cls: type) -> dict[str, Any]:
    sub_type = opt(cls, "subscription_type")
    profile = opt(cls, "subscription_profile")
    return {
        "config": dict(opt(cls, "subscription_config") or {}),
        "profile": getattr(profile, "value", profile),
        "type": getattr(sub_type, "value", sub_type),
    }


def _resilience(cls: type) -> dict[str, Any] | None:
    policy: dict[str, Any] = {}
    timeout = opt(cls, "timeout")
    if timeout is not None:
        policy["timeout"] = timeout.total_seconds() if isinstance(timeout, _dt.timedelta) else float(timeout)
    for key in ("backoff", "retries"):
        value = opt(cls, key)
        if value is not None:
            policy[key] = value
    exceptions = opt(cls, "retry_exceptions")
    if exceptions is not None:
        policy["retry_exceptions"] = sorted(e if isinstance(e, str) else fqn(e) for e in exceptions)
    return dict(sorted(policy.items())) or None


def _handler_common(cls: type, entry: dict[str, Any]) -> None:
    entry["handlers"] = handler_map(cls)
    resilience = _resilience(cls)
    if resilience is not None:
        entry["resilience"] = resilience
    sequential_by = opt(cls, "sequential_by")
    if sequential_by is not None:
        entry["sequential_by"] = sequential_by
    entry["subscription"] = subscription(cls)


def _part_of(cls: type, entry: dict[str, Any]) -> None:
    aggregate = aggregate_of(cls)
    if aggregate is not None:
        entry["part_of"] = fqn(aggregate)


def _id_field(cls: type, default: str | None = "id") -> str | None:
    return getattr(cls, "_id_field", None) or default


def indexes_ir(cls: type) -> list[dict[str, Any]]:
    """The ``indexes=[Index(...)]`` of an aggregate or projection, as Protean writes them
    (``fields``, ``unique``; ``name``, ``desc``, ``include`` when set; ``partial`` for a ``where``;
    ``raw``, ``dialect``, ``ddl`` (and ``name``) for ``Index.from_sql``)."""
    found: list[dict[str, Any]] = []
    for index in opt(cls, "indexes") or ():
        if not hasattr(index, "fields"):  # Index.from_sql(...): its dialect and DDL
            raw: dict[str, Any] = {"raw": True, "dialect": index.dialect, "ddl": index.ddl}
            if index.name:
                raw["name"] = index.name
            found.append(raw)
            continue
        entry: dict[str, Any] = {"fields": list(index.fields), "unique": bool(index.unique)}
        if index.name:
            entry["name"] = index.name
        if index.desc:
            entry["desc"] = list(index.desc)
        if index.include:
            entry["include"] = list(index.include)
        if index.where is not None:
            entry["partial"] = True
        found.append(entry)
    return found


def aggregate(cls: type) -> dict[str, Any]:
    entry = base(cls, "AGGREGATE")
    entry["fields"] = fields_ir(cls)
    entry["identity_field"] = _id_field(cls)
    indexes = indexes_ir(cls)
    if indexes:
        entry["indexes"] = indexes
    entry["invariants"] = _invariants(cls)
    event_sourced = bool(opt(cls, "is_event_sourced", False))
    options = {
        "auto_add_id_field": bool(opt(cls, "auto_add_id_field", True)),
        "fact_events": bool(opt(cls, "fact_events", False)),
        "is_event_sourced": event_sourced,
        "limit": opt(cls, "limit", 100),
        "provider": opt(cls, "provider", "default"),
        "schema_name": schema_name(cls),
        "stream_category": opt(cls, "stream_category"),
    }
    entry["options"] = dict(sorted(options.items()))
    if event_sourced:
        appliers = _appliers(cls)
        if appliers:
            entry["apply_handlers"] = appliers
    return dict(sorted(entry.items()))


def _appliers(cls: type) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, method in (getattr(cls, "_appliers", None) or {}).items():
        event = key if isinstance(key, type) else None
        name = fqn(event) if event is not None else str(key)
        found[name] = getattr(method, "__name__", str(method))
    return dict(sorted(found.items()))


def schema_name(cls: type) -> str:
    from archipel.utils.naming import snake_case  # noqa: PLC0415 - tiny helper, kept local

    return opt(cls, "schema_name") or snake_case(cls.__name__)


def entity(cls: type) -> dict[str, Any]:
    entry = base(cls, "ENTITY")
    entry["fields"] = fields_ir(cls)
    entry["identity_field"] = _id_field(cls)
    entry["invariants"] = _invariants(cls)
    entry["options"] = {
        "auto_add_id_field": bool(opt(cls, "auto_add_id_field", True)),
        "limit": opt(cls, "limit", 100),
        "provider": opt(cls, "provider", "default"),
        "schema_name": schema_name(cls),
    }
    _part_of(cls, entry)
    return dict(sorted(entry.items()))


def value_object(cls: type) -> dict[str, Any]:
    entry = base(cls, "VALUE_OBJECT")
    entry["fields"] = fields_ir(cls)
    entry["invariants"] = _invariants(cls)
    return dict(sorted(entry.items()))


def _message(cls: type, element_type: str) -> dict[str, Any]:
    entry = base(cls, element_type)
    entry["__type__"] = opt(cls, "type_string") or ""
    entry["__version__"] = opt(cls, "version", 1)
    entry["fields"] = fields_ir(cls)
    _part_of(cls, entry)
    return entry


def command(cls: type) -> dict[str, Any]:
    return dict(sorted(_message(cls, "COMMAND").items()))


def event(cls: type) -> dict[str, Any]:
    entry = _message(cls, "EVENT")
    owner = aggregate_of(cls)
    entry["is_fact_event"] = owner is not None and owner._meta.extra.get("fact_event_cls") is cls  # type: ignore[attr-defined]
    if entry["is_fact_event"]:
        entry["auto_generated"] = True
    if opt(cls, "published", False):
        entry["published"] = True
    superseded = opt(cls, "superseded_by")
    if superseded is not None:
        entry["superseded_by"] = fqn(superseded) if isinstance(superseded, type) else str(superseded)
    return dict(sorted(entry.items()))


def command_handler(cls: type) -> dict[str, Any]:
    entry = base(cls, "COMMAND_HANDLER")
    _part_of(cls, entry)
    _handler_common(cls, entry)
    entry["stream_category"] = opt(cls, "stream_category")
    return dict(sorted(entry.items()))


def event_handler(cls: type) -> dict[str, Any]:
    entry = base(cls, "EVENT_HANDLER")
    _part_of(cls, entry)
    _handler_common(cls, entry)
    entry["source_stream"] = opt(cls, "source_stream")
    entry["stream_category"] = opt(cls, "stream_category")
    return dict(sorted(entry.items()))


def application_service(cls: type) -> dict[str, Any]:
    entry = base(cls, "APPLICATION_SERVICE")
    _part_of(cls, entry)
    return dict(sorted(entry.items()))


def repository(cls: type) -> dict[str, Any]:
    entry = base(cls, "REPOSITORY")
    database = opt(cls, "database", "ALL")
    if database not in ("ALL", "default", None):
        entry["database"] = database
    _part_of(cls, entry)
    return dict(sorted(entry.items()))


def database_model(cls: type) -> dict[str, Any]:
    entry = base(cls, "DATABASE_MODEL")
    database = opt(cls, "database")
    if database is not None:
        entry["database"] = database
    schema_name = opt(cls, "schema_name")
    if schema_name is not None:
        entry["schema_name"] = schema_name
    _part_of(cls, entry)
    return dict(sorted(entry.items()))


def domain_service(cls: type) -> dict[str, Any]:
    entry = base(cls, "DOMAIN_SERVICE")
    entry["invariants"] = _invariants(cls)
    part_of = opt(cls, "part_of")
    if part_of is not None:
        targets = part_of if isinstance(part_of, (list, tuple)) else [part_of]
        entry["part_of"] = sorted(fqn(t) if isinstance(t, type) else str(t) for t in targets)
    return dict(sorted(entry.items()))


def subscriber(cls: type) -> dict[str, Any]:
    entry = base(cls, "SUBSCRIBER")
    entry["broker"] = opt(cls, "broker", "default")
    entry["stream"] = opt(cls, "stream")
    return dict(sorted(entry.items()))


#: element kind -> extractor, for the kinds placed in aggregate clusters and flows
EXTRACTORS: dict[str, Callable[[type], dict[str, Any]]] = {
    "aggregate": aggregate,
    "entity": entity,
    "value_object": value_object,
    "command": command,
    "event": event,
    "command_handler": command_handler,
    "event_handler": event_handler,
    "application_service": application_service,
    "repository": repository,
    "database_model": database_model,
    "domain_service": domain_service,
    "subscriber": subscriber,
}
