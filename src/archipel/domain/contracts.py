"""Message contracts: the JSON Schema of what a domain publishes, and breaking-change checks.

The contract of a domain is every published (integration) event and every
command, by type string, each as a JSON Schema of its data. ``archipel
schema dump`` writes it to a file kept under version control; ``archipel
schema check`` compares the code with that file and reports, per message:

- breaking: a message removed; a field removed or renamed; a field's type
  changed; a new required field, or a field made required — unless the
  message's version was bumped *and* an upcaster chain leads from the
  recorded version to the new one (old messages stay readable);
- compatible: a new optional field, a new message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archipel.handling.decoding import split_type

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["Change", "compare_contracts", "domain_contract", "field_schema", "message_schema"]

_SCALARS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "text": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "decimal": {"type": "string", "format": "decimal"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "dict": {"type": "object"},
}


def field_schema(field_obj: Any) -> dict[str, Any]:
    """The JSON Schema of one field's value."""
    kind = getattr(field_obj, "type_name", "any")
    if kind == "identifier":
        identity = getattr(field_obj, "identity_type", "string")
        schema: dict[str, Any] = {"type": "integer" if identity == "integer" else "string"}
    elif kind == "list":
        content = getattr(field_obj, "content", None)
        schema = {"type": "array", "items": field_schema(content) if content is not None else {}}
    elif kind in ("value_object", "has_one"):
        schema = message_schema(field_obj.to_cls)
    elif kind == "has_many":
        schema = {"type": "array", "items": message_schema(field_obj.to_cls)}
    else:
        schema = dict(_SCALARS.get(kind, {}))
    max_length = getattr(field_obj, "max_length", None)
    if max_length is not None and schema.get("type") == "string":
        schema["maxLength"] = max_length
    choices = getattr(field_obj, "choices", None)
    if choices:
        schema["enum"] = [getattr(c, "value", c) for c in choices]
    return schema


def message_schema(cls: Any) -> dict[str, Any]:
    """The JSON Schema (an object) of the data of a message or embedded element class."""
    fields = getattr(cls, "_fields", {})
    return {
        "type": "object",
        "properties": {name: field_schema(f) for name, f in fields.items()},
        "required": sorted(name for name, f in fields.items() if getattr(f, "required", False)),
    }


def domain_contract(domain: Domain) -> dict[str, Any]:
    """``{"domain": ..., "messages": {type string: {"kind", "schema"}}}`` for the published
    events and the commands of ``domain`` (sorted, so the file diffs well)."""
    messages: dict[str, Any] = {}
    for kind in ("event", "command"):
        for cls in domain.registry.of_kind(kind).values():
            meta = cls._meta
            if meta.abstract or (kind == "event" and not meta.published):
                continue
            messages[meta.type_string] = {
                "kind": "integration_event" if kind == "event" else "command",
                "schema": {"$schema": "https://json-schema.org/draft/2020-12/schema",
                           "title": meta.type_string, **message_schema(cls)},
            }
    return {"domain": domain.name, "messages": dict(sorted(messages.items()))}


@dataclass
class Change:
    """One difference between the recorded contract and the code."""

    message: str
    text: str
    breaking: bool


@dataclass
class Comparison:
    """All differences; ``breaking`` is what fails ``schema check``."""

    changes: list[Change] = field(default_factory=list)

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.breaking]


def _by_base(contract: dict[str, Any]) -> dict[str, tuple[int, dict[str, Any]]]:
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for type_string, entry in (contract.get("messages") or {}).items():
        base, version = split_type(type_string)
        if base not in found or version > found[base][0]:
            found[base] = (version, entry.get("schema") or {})
    return found


def _field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, bool]]:
    """``(description, breaking)`` for every field-level difference."""
    changes: list[tuple[str, bool]] = []
    old_props, new_props = old.get("properties") or {}, new.get("properties") or {}
    old_required, new_required = set(old.get("required") or ()), set(new.get("required") or ())
    for name in sorted(old_props.keys() - new_props.keys()):
        changes.append((f"field {name!r} removed (or renamed)", True))
    for name in sorted(new_props.keys() - old_props.keys()):
        required = name in new_required
        changes.append((f"field {name!r} added{' as required' if required else ' (optional)'}", required))
    for name in sorted(old_props.keys() & new_props.keys()):
        if old_props[name] != new_props[name]:
            changes.append((f"field {name!r} changed: {old_props[name]} -> {new_props[name]}", True))
        if name in new_required and name not in old_required:
            changes.append((f"field {name!r} is now required", True))
    return changes


def compare_contracts(domain: Domain, recorded: dict[str, Any]) -> Comparison:
    """Compare the recorded contract with the current code of ``domain``."""
    from archipel.handling.decoding import build_upcasters

    current = _by_base(domain_contract(domain))
    before = _by_base(recorded)
    steps = build_upcasters(domain).steps
    result = Comparison()
    for base in sorted(before.keys() - current.keys()):
        version = before[base][0]
        result.changes.append(Change(f"{base}.v{version}", "message removed", True))
    for base in sorted(current.keys() - before.keys()):
        result.changes.append(Change(f"{base}.v{current[base][0]}", "message added", False))
    for base in sorted(before.keys() & current.keys()):
        old_version, old_schema = before[base]
        new_version, new_schema = current[base]
        name = f"{base}.v{new_version}"
        fields = _field_changes(old_schema, new_schema)
        if new_version < old_version:
            result.changes.append(Change(name, f"version went back from v{old_version}", True))
            continue
        if new_version > old_version:
            chain = steps.get(base, {})
            version = old_version
            while version in chain and version != new_version:
                version = chain[version][0]
            if version == new_version:
                result.changes.append(Change(
                    name, f"version bumped from v{old_version}, upcasters lead there", False))
                result.changes += [Change(name, text, False) for text, _ in fields]
            else:
                result.changes.append(Change(
                    name, f"version bumped from v{old_version} without an upcaster path from "
                    f"v{version}: stored or in-flight v{old_version} messages could not be read", True))
            continue
        result.changes += [Change(name, text, breaking) for text, breaking in fields]
    return result
