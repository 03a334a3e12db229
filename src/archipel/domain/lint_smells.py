"""``Domain.check()``'s info-level rules: design smells, naming, deprecations (Protean's codes)."""

from __future__ import annotations

from typing import Any

from archipel.core.handler import handler_specs
from archipel.domain.element_schemas import fqn
from archipel.domain.lint_catalog import IMPERATIVE_VERBS, NON_NOUN_AGGREGATE_SUFFIXES, diagnostic
from archipel.utils.reflection import declared_fields

__all__ = ["design_smells"]

Found = list[dict[str, Any]]
_AUTO_FIELDS = {"id", "_metadata"}


def design_smells(m: Any, found: Found) -> None:
    """Append the info-level findings of the model ``m`` (a ``lint_rules._Model``)."""
    lint = m.domain.config.get("lint") or {}
    size_limit = lint.get("aggregate_size_limit", 5)
    breadth_limit = lint.get("handler_breadth_limit", 5)
    for aggregate in m.aggregates:
        entities = len(m.members("entity", aggregate))
        if entities > size_limit:
            found.append(diagnostic(
                "AGGREGATE_TOO_LARGE", element=fqn(aggregate),
                message=f"Aggregate `{aggregate.__name__}` has {entities} entities (limit: {size_limit})",
            ))
        if not aggregate._meta.abstract and not (
            aggregate._pre_invariants or aggregate._post_invariants
        ):
            found.append(diagnostic(
                "AGGREGATE_NO_INVARIANTS", element=fqn(aggregate),
                message=f"Aggregate `{aggregate.__name__}` has no pre/post invariants (own or "
                "inherited); it enforces no business rules and may be an anemic data holder.",
            ))
        lowered = aggregate.__name__.lower()
        if any(lowered.endswith(s) and len(lowered) > len(s) for s in NON_NOUN_AGGREGATE_SUFFIXES):
            found.append(diagnostic(
                "AGGREGATE_NOT_NOUN", element=fqn(aggregate),
                message=f"Aggregate `{aggregate.__name__}` is named as a verb, gerund, or adjective; "
                "aggregates read best as nouns",
            ))
    for kind in ("command_handler", "event_handler"):
        for handler in m.of(kind).values():
            count = len(m.handled(handler))
            if m.root(handler) is not None and count > breadth_limit:
                found.append(diagnostic(
                    "HANDLER_TOO_BROAD", element=fqn(handler),
                    message=f"Handler `{handler.__name__}` handles {count} message types "
                    f"(limit: {breadth_limit})",
                ))
    for event in m.events:
        if m.root(event) is None:
            continue
        if not set(declared_fields(event)) - _AUTO_FIELDS:
            found.append(diagnostic(
                "EVENT_WITHOUT_DATA", element=fqn(event),
                message=f"Event `{event.__name__}` has no user-defined fields",
            ))
        if event.__name__.lower().endswith("ing"):
            found.append(diagnostic(
                "EVENT_NOT_PAST_TENSE", element=fqn(event),
                message=f"Event `{event.__name__}` is named as a gerund; domain events read best "
                "in the past tense",
            ))
    for command in m.of("command").values():
        name = command.__name__
        if m.root(command) is not None and not any(
            name.lower().startswith(verb) and (len(name) == len(verb) or name[len(verb)].isupper())
            for verb in IMPERATIVE_VERBS
        ):
            found.append(diagnostic(
                "COMMAND_NOT_IMPERATIVE", element=fqn(command),
                message=f"Command `{name}` does not start with an imperative verb; commands read "
                "best as verb-first phrases",
            ))
    for pm in m.of("process_manager").values():
        specs = handler_specs(pm)
        if specs and not any(spec.end for spec in specs):
            found.append(diagnostic(
                "PROCESS_MANAGER_UNCLOSED", element=fqn(pm),
                message=f"Process manager `{pm.__name__}` has no handler marked `end=True` to close "
                "its instances",
            ))
    _deprecations(m, found)


def _deprecations(m: Any, found: Found) -> None:
    for elements in m.domain.registry.elements.values():
        for cls in elements.values():
            deprecated = cls._meta.get("deprecated")
            if not deprecated:
                continue
            info = deprecated if isinstance(deprecated, dict) else {}
            message = f"`{cls.__name__}` is deprecated since v{info.get('since', '?')}"
            if info.get("removal"):
                message += f", scheduled for removal in v{info['removal']}"
            superseded_by = cls._meta.get("superseded_by")
            if superseded_by:
                name = superseded_by if isinstance(superseded_by, str) else superseded_by.__name__
                message += f"; superseded by `{name}`"
            found.append(diagnostic("DEPRECATED_ELEMENT", element=fqn(cls), message=message))
