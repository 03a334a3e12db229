"""Aggregate cluster diagrams (``archipel docs generate --type clusters``).

A Mermaid ``classDiagram`` of each cluster: the aggregate with its stereotype
(``Aggregate``, plus ``EventSourced``, ``FactEvents``), its entities
(``"1" o-- "*"`` from the aggregate's ``HasMany`` fields) and value objects
(``*--`` from its value-object fields), every element's fields and invariants
(one ``note for`` each), and, for the whole domain, ``..>`` for each
``Reference`` to another aggregate. Protean 0.18's ``generate_cluster_diagram``,
line for line.
"""

from __future__ import annotations

from typing import Any

from archipel.ir.mermaid import label, mermaid_field_summary, node_id, short_name

__all__ = ["cluster_diagram"]


def _class_block(path: str, element: dict[str, Any], stereotype: str) -> list[str]:
    lines = [f'    class {node_id(path)}["{short_name(path)}"] {{', f"        <<{stereotype}>>"]
    for name, field in sorted(element.get("fields", {}).items()):
        lines.append(f"        +{label(name)} {mermaid_field_summary(field)}")
    lines.append("    }")
    return lines


def _notes(path: str, element: dict[str, Any]) -> list[str]:
    invariants = element.get("invariants", {})
    names = invariants.get("pre", []) + invariants.get("post", [])
    return [f'    note for {node_id(path)} "{name.replace(chr(34), "#quot;")}"' for name in names]


def _stereotype(aggregate: dict[str, Any]) -> str:
    options = aggregate.get("options", {})
    flags = [text for key, text in (("is_event_sourced", "EventSourced"), ("fact_events", "FactEvents"))
             if options.get(key)]
    return ", ".join(["Aggregate", *flags])


def _cluster_lines(path: str, cluster: dict[str, Any]) -> list[str]:
    aggregate = cluster["aggregate"]
    root = node_id(path)
    root_fields = sorted(aggregate.get("fields", {}).items())
    lines = _class_block(path, aggregate, _stereotype(aggregate)) + _notes(path, aggregate)
    for entity_path, entity in sorted(cluster.get("entities", {}).items()):
        lines += _class_block(entity_path, entity, "Entity") + _notes(entity_path, entity)
        lines += [f'    {root} "1" o-- "*" {node_id(entity_path)} : {label(name)}'
                  for name, field in root_fields
                  if field.get("kind") == "has_many" and field.get("target") == entity_path]
    for vo_path, vo in sorted(cluster.get("value_objects", {}).items()):
        lines += _class_block(vo_path, vo, "ValueObject") + _notes(vo_path, vo)
        lines += [f"    {root} *-- {node_id(vo_path)} : {label(name)}"
                  for name, field in root_fields
                  if field.get("kind") in ("value_object", "value_object_list") and field.get("target") == vo_path]
    return lines


def _references(ir: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(source, target aggregate, field)`` of each ``Reference`` out of its own cluster."""
    found: list[tuple[str, str, str]] = []
    for cluster_path, cluster in ir.get("clusters", {}).items():
        owners = [*cluster.get("entities", {}).items(), (cluster_path, cluster.get("aggregate", {}))]
        for owner, element in owners:
            for name, field in element.get("fields", {}).items():
                target = field.get("target", "") if field.get("kind") == "reference" else ""
                if target and target != cluster_path:
                    found.append((owner, target, name))
    return sorted(found)


def cluster_diagram(ir: dict[str, Any], *, cluster: str = "") -> str:
    """The ``classDiagram`` of every cluster (with cross-aggregate references), or of ``cluster``
    alone (no references); a bare ``classDiagram`` when there is none or ``cluster`` is unknown."""
    clusters = ir.get("clusters", {})
    lines = ["classDiagram"]
    if not clusters:
        return lines[0]
    if cluster:
        body = clusters.get(cluster)
        return lines[0] if body is None else "\n".join(lines + _cluster_lines(cluster, body))
    for path, body in sorted(clusters.items()):
        lines += _cluster_lines(path, body)
    lines += [f"    {node_id(source)} ..> {node_id(target)} : {label(name)}"
              for source, target, name in _references(ir)]
    return "\n".join(lines)
