"""JSON Schema (Draft 2020-12) of every data-carrying element (``archipel schema generate|show``).

Protean's ``protean schema generate`` output, from the live domain (archipel
has no IR file): one schema per aggregate, entity, value object, command,
event and projection, keyed by the class's dotted path. Optional fields are
``anyOf [..., {"type": "null"}]``; a default that is a plain value is given;
Protean's ``x-protean-*`` keys are ``x-archipel-*`` here (element type, dotted
path, aggregate, version, type string, published, event sourced, identity
field). Files go to ``<output>/schemas/<aggregate>/<kind>s/<Name>.v<N>.json``,
projections to ``<output>/schemas/projections/``, as Protean lays them out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archipel.domain.contracts import field_schema

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["DATA_KINDS", "element_schema", "element_schemas", "fqn", "schema_paths", "short_name"]

#: element kind -> folder of its schema files (Protean's names)
DATA_KINDS = {
    "aggregate": "aggregates",
    "entity": "entities",
    "value_object": "value_objects",
    "command": "commands",
    "event": "events",
    "projection": "projections",
}
_SCALAR_DEFAULTS = (str, int, float, bool, type(None))


def fqn(cls: type) -> str:
    """The dotted path of a class (``module.Qualified.Name``)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def short_name(path: str) -> str:
    """The last part of a dotted path."""
    return path.rsplit(".", 1)[-1]


def _property(field_obj: Any) -> tuple[dict[str, Any], bool]:
    schema = field_schema(field_obj)
    required = bool(getattr(field_obj, "required", False) or getattr(field_obj, "identifier", False))
    if not required:
        schema = {"anyOf": [schema, {"type": "null"}]}
    default = getattr(field_obj, "_default", None)
    if not getattr(field_obj, "_default_is_callable", True) and isinstance(default, _SCALAR_DEFAULTS) \
            and default is not None:
        schema["default"] = default
    description = getattr(field_obj, "description", None)
    if description:
        schema["description"] = description
    return dict(sorted(schema.items())), required


def element_schema(cls: type, kind: str) -> dict[str, Any]:
    """The JSON Schema of one element class of ``kind``."""
    meta = cls._meta  # type: ignore[attr-defined]
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, field_obj in sorted(getattr(cls, "_fields", {}).items()):
        properties[name], needed = _property(field_obj)
        if needed:
            required.append(name)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": cls.__name__,
        "type": "object",
        "properties": properties,
        "x-archipel-element-type": kind,
        "x-archipel-fqn": fqn(cls),
    }
    if required:
        schema["required"] = required
    if cls.__doc__ and cls.__doc__.strip():
        schema["description"] = cls.__doc__.strip()
    part_of = getattr(meta, "part_of", None)
    if isinstance(part_of, type):
        schema["x-archipel-aggregate"] = fqn(part_of)
    if kind in ("event", "command"):
        schema["x-archipel-version"] = meta.version
        schema["x-archipel-type"] = meta.type_string
        if getattr(meta, "published", False):
            schema["x-archipel-published"] = True
    if kind == "aggregate" and getattr(meta, "is_event_sourced", False):
        schema["x-archipel-is-event-sourced"] = True
    id_field = getattr(cls, "_id_field", None) or getattr(meta, "id_field", None)
    if kind in ("aggregate", "entity", "projection") and isinstance(id_field, str):
        schema["x-archipel-identity-field"] = id_field
    return dict(sorted(schema.items()))


def _elements(domain: Domain) -> list[tuple[str, type]]:
    found = []
    for kind in DATA_KINDS:
        for cls in domain.registry.of_kind(kind).values():
            if not getattr(cls._meta, "abstract", False):
                found.append((kind, cls))
    return sorted(found, key=lambda pair: fqn(pair[1]))


def element_schemas(domain: Domain) -> dict[str, dict[str, Any]]:
    """Dotted path -> JSON Schema of every data-carrying element of ``domain`` (sorted)."""
    return {fqn(cls): element_schema(cls, kind) for kind, cls in _elements(domain)}


def _cluster(cls: type, kind: str) -> str:
    """The aggregate an element belongs to (itself for an aggregate), by its class name."""
    if kind == "aggregate":
        return cls.__name__
    part_of = getattr(cls._meta, "part_of", None)  # type: ignore[attr-defined]
    while isinstance(part_of, type) and getattr(part_of._meta, "kind", "") != "aggregate":  # type: ignore[attr-defined]
        part_of = getattr(part_of._meta, "part_of", None)  # type: ignore[attr-defined]
    return part_of.__name__ if isinstance(part_of, type) else cls.__name__


def schema_paths(domain: Domain) -> dict[str, tuple[str, dict[str, Any]]]:
    """Relative file path -> (dotted path, schema) of every element's schema file."""
    files: dict[str, tuple[str, dict[str, Any]]] = {}
    for kind, cls in _elements(domain):
        version = int(getattr(cls._meta, "version", 1) or 1) if kind in ("event", "command") else 1  # type: ignore[attr-defined]
        name = f"{cls.__name__}.v{version}.json"
        folder = "projections" if kind == "projection" else f"{_cluster(cls, kind)}/{DATA_KINDS[kind]}"
        files[f"schemas/{folder}/{name}"] = (fqn(cls), element_schema(cls, kind))
    return dict(sorted(files.items()))
