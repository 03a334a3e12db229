"""Init-time preparation of a domain's model: resolve, name, validate, describe.

Runs once in ``Domain.init()``; everything the hot path needs (stream
categories, type strings, schemas, fact event classes) is computed here.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from archipel.core.declarations import retry_unresolved
from archipel.core.entity import link_owner
from archipel.core.event import BaseEvent
from archipel.core.event_sourcing import collect_appliers
from archipel.core.index import Index, RawIndex
from archipel.errors import ConfigurationError
from archipel.fields.association import HasMany, HasOne, Reference
from archipel.fields.base import Field
from archipel.fields.simple import Auto, Identifier, String
from archipel.port.schema import ModelSchema
from archipel.utils.naming import snake_case

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["prepare_model"]


def prepare_model(domain: Domain) -> dict[Any, ModelSchema]:
    """Resolve references, name streams, create fact events, validate; return schemas."""
    registry = domain.registry
    resolve = registry.resolve

    names = {name: cls for name, cls in registry.by_name.items() if "." not in name}
    for _, cls in registry.all():
        if getattr(cls, "_unresolved", None):
            retry_unresolved(cls, names)
    _apply_identity_config(domain)
    for _, cls in registry.all():
        meta = cls._meta  # type: ignore[attr-defined]
        part_of = meta.part_of
        if isinstance(part_of, str):
            meta.part_of = resolve(part_of)
        elif isinstance(part_of, (list, tuple)):
            meta.part_of = [resolve(p) if isinstance(p, str) else p for p in part_of]
        for field in getattr(cls, "_fields", {}).values():
            field.resolve(resolve)

    for cls in registry.of_kind("aggregate").values():
        meta = cls._meta  # type: ignore[attr-defined]
        # an explicit category is within the domain too, as in Protean: ``orders`` -> ``shop::orders``
        meta.stream_category = f"{domain.snake_name}::{meta.get('stream_category') or snake_case(cls.__name__)}"
        if meta.fact_events and "fact_event_cls" not in meta.extra:
            meta.extra["fact_event_cls"] = _fact_event_class(domain, cls)
        if meta.get("is_event_sourced"):
            cls._appliers = collect_appliers(cls, lambda a: _resolve_annotation(domain, a))  # type: ignore[attr-defined]

    _handler_categories(domain)
    _validate(domain)
    _apply_field_defaults(domain)
    return _schemas(domain)


def _handler_categories(domain: Domain) -> None:
    """``Handler.meta_.stream_category`` as Protean reads it: an event handler's given category
    or its aggregate's; a command handler's aggregate category with ``:command``."""
    for kind, suffix in (("event_handler", ""), ("command_handler", ":command")):
        for cls in domain.registry.of_kind(kind).values():
            meta = cls._meta  # type: ignore[attr-defined]
            owner = getattr(meta.part_of, "_meta", None)
            explicit = meta.get("stream_category") if kind == "event_handler" else None
            if explicit:
                meta.stream_category = explicit
            elif owner is not None and owner.kind == "aggregate" and owner.stream_category:
                meta.stream_category = f"{owner.stream_category}{suffix}"


def _apply_field_defaults(domain: Domain) -> None:
    """``[field_defaults] sanitize = true``: String/Text fields that leave ``sanitize`` unset
    clean their HTML (Protean's domain-wide default)."""
    if not (domain.config.get("field_defaults") or {}).get("sanitize"):
        return
    for _, cls in domain.registry.all():
        fields = getattr(cls, "_fields", None) or {}
        unset = [f for f in fields.values() if isinstance(f, String) and f.sanitize is None]
        for field in unset:
            field.sanitize = True
        if unset:
            cls._setup_fields()  # type: ignore[attr-defined]  # the constructors' fast paths no longer skip the cleaning


def _apply_identity_config(domain: Domain) -> None:
    """Make ``Auto`` fields without their own strategy/type follow the domain's configuration."""
    strategy = domain.config.get("identity_strategy") or "uuid"
    identity_type = domain.config.get("identity_type") or "string"
    function = getattr(domain, "identity_function", None)
    if (strategy, identity_type) == ("uuid", "string"):
        return  # what every Auto field does already
    if strategy == "function" and function is None:
        return  # Domain.init() reports the missing Domain(identity_function=...)
    for _, cls in domain.registry.all():
        autos = [f for f in getattr(cls, "_fields", {}).values() if isinstance(f, Auto)]
        changed = False
        for field in autos:
            own_strategy, own_type = field.explicit
            if not own_strategy and strategy == "function" and field.identity_function is None:
                field.identity_function = function
            try:
                field.use_identity(
                    (field.identity_strategy or strategy) if own_strategy else strategy,
                    field.identity_type if own_type else identity_type,
                )
            except TypeError as exc:
                raise ConfigurationError(f"{cls.__name__}.{field.name}: {exc} (from the domain's config)") from None
            changed = True
        if changed:
            cls._setup_fields()  # type: ignore[attr-defined]


def _resolve_annotation(domain: Domain, annotation: Any) -> type | None:
    if isinstance(annotation, str):
        found = domain.registry.by_name.get(annotation)
        return found
    return annotation if isinstance(annotation, type) else None


def _fact_event_class(domain: Domain, aggregate: type) -> type:
    namespace: dict[str, Any] = {"__module__": aggregate.__module__}
    for name, field in aggregate._fields.items():  # type: ignore[attr-defined]
        clone = copy.copy(field)
        clone.required = False
        namespace[name] = clone
    fact_cls = type(f"{aggregate.__name__}FactEvent", (BaseEvent,), namespace)
    return domain.registry.register(fact_cls, "event", part_of=aggregate)


def _validate(domain: Domain) -> None:
    registry = domain.registry
    name = domain.snake_name
    for kind in ("event", "command"):
        for cls in registry.of_kind(kind).values():
            meta = cls._meta  # type: ignore[attr-defined]
            if meta.abstract:
                continue
            if meta.part_of is None:
                raise ConfigurationError(
                    f"{kind} {cls.__name__} has no part_of: declare the aggregate it belongs to, "
                    f"e.g. @{name}.{kind}(part_of=Order)"
                )
            if getattr(meta.part_of, "_meta", None) is None or meta.part_of._meta.kind != "aggregate":
                raise ConfigurationError(
                    f"{kind} {cls.__name__}: part_of={getattr(meta.part_of, '__name__', meta.part_of)} "
                    "is not a registered aggregate"
                )
    for cls in registry.of_kind("entity").values():
        meta = cls._meta  # type: ignore[attr-defined]
        if meta.part_of is None and not meta.abstract:
            raise ConfigurationError(
                f"entity {cls.__name__} has no part_of: use @{name}.entity(part_of=Aggregate)"
            )
        if isinstance(meta.part_of, type):
            # Protean's implicit reference: ``comment.post`` / ``comment.post_id``
            link_owner(cls, meta.part_of, snake_case(meta.part_of.__name__))
    for kind in ("aggregate", "entity"):
        for cls in registry.of_kind(kind).values():
            for field in cls._fields.values():  # type: ignore[attr-defined]
                if isinstance(field, (HasMany, HasOne)):
                    target = field.to_cls
                    if getattr(getattr(target, "_meta", None), "kind", None) != "entity":
                        raise ConfigurationError(
                            f"{cls.__name__}.{field.name} holds {target.__name__}, which is not an "
                            f"entity: register it with @{name}.entity(part_of={cls.__name__})"
                        )
                    if not field.via:
                        # a Reference of the child to this owner holds its identity (Protean's)
                        refs = [
                            n for n, f in target._fields.items()  # type: ignore[attr-defined]
                            if isinstance(f, Reference) and f.to_cls is cls
                        ]
                        if len(refs) == 1:
                            field.via = refs[0]
                            field.via_derived = True  # not declared: the IR leaves it out, as Protean's
                            cls._setup_fields()  # type: ignore[attr-defined]
                    if field.via and field.via not in target._fields:  # type: ignore[attr-defined]
                        # as Protean does: the child gets a field for its parent's identity
                        link = Identifier()
                        link.__set_name__(target, field.via)
                        type.__setattr__(target, field.via, link)
                        target._setup_fields()  # type: ignore[attr-defined]
    for cls in registry.of_kind("projection").values():
        if cls._id_field is None:  # type: ignore[attr-defined]
            raise ConfigurationError(
                f"projection {cls.__name__} needs an identifier field, e.g. "
                "book_id = Identifier(identifier=True)"
            )


def _schemas(domain: Domain) -> dict[Any, ModelSchema]:
    from archipel.domain.database_models import model_tables

    schemas: dict[Any, ModelSchema] = {}
    prefix = domain.snake_name
    tables = model_tables(domain)
    for element_kind in ("aggregate", "projection", "process_manager"):
        for cls in domain.registry.of_kind(element_kind).values():
            kind = element_kind  # per class: an event-sourced aggregate changes it
            meta = cls._meta  # type: ignore[attr-defined]
            fields: dict[str, Field] = dict(cls._fields)  # type: ignore[attr-defined]
            id_field = cls._id_field  # type: ignore[attr-defined]
            extra: tuple[str, ...] = ()
            if kind == "aggregate":
                extra = ("_event_position",)
                if meta.get("is_event_sourced"):
                    kind = "event_sourced"  # no table: state is the replay of its stream
            elif kind == "process_manager":
                id_field = "_correlation_id"
                extra = ("_correlation_id", "_is_complete")
            indexes = tuple(meta.get("indexes") or ())
            for index in indexes:
                if not isinstance(index, (Index, RawIndex)):
                    raise ConfigurationError(
                        f"{cls.__name__}: indexes=[...] takes Index(...) (or Index.from_sql(...)) "
                        f"objects, got {index!r}"
                    )
                index.check(cls.__name__, fields)
            schemas[cls] = ModelSchema(
                name=cls.__name__,
                table=tables.get(cls) or meta.get("schema_name") or f"{prefix}_{snake_case(cls.__name__)}",
                cls=cls,
                id_field=id_field,
                fields=fields,
                kind=kind,
                database=_database_of(cls, meta),
                extra_columns=extra,
                indexes=indexes,
            )
    return schemas


def _database_of(cls: type, meta: Any) -> str:
    """The database an element is stored in: ``database``/``provider``, or its ``cache``."""
    cache = meta.get("cache")
    database = meta.get("database") or meta.get("provider")
    if cache and database:
        raise ConfigurationError(
            f"projection {cls.__name__}: give cache={cache!r} or database={database!r}, not both"
        )
    if cache:
        return f"cache:{cache}"
    return database or "default"
