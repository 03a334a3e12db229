"""The ``[lint]`` table of ``domain.toml`` (Protean's): checked, then applied to the findings.

- ``level`` (``"error"``, ``"warn"`` — the default — or ``"info"``): the lowest
  severity that fails ``archipel check`` (exit 1); ``--level`` only filters what
  is shown;
- ``suppressions``: ``{CODE = N}`` keeps the first ``N`` findings of a code (in
  ``(code, element, field, message)`` order) out of the report, so a codebase can
  adopt a rule without failing on what it already has; an element's own
  ``suppress_checks=[...]`` option silences codes for that element;
- ``aggregate_size_limit`` / ``handler_breadth_limit`` (default 5): the limits of
  ``AGGREGATE_TOO_LARGE`` and ``HANDLER_TOO_BROAD``;
- ``rules``: dotted paths of your own rules, ``rule(ir) -> list[dict]`` (``ir``:
  Protean's IR document of the domain, :mod:`archipel.ir`);
- ``check_infra_imports`` / ``check_adapter_calls`` (default false): turn on
  ``INFRA_IMPORT_IN_DOMAIN`` (an element's module imports ``archipel.adapters``)
  and ``ADAPTER_CALL_IN_DOMAIN`` (a method calls into it), which read the
  domain's source (:mod:`archipel.ir.analysis.coupling`).

A malformed value is a ``ConfigurationError`` naming the key and what is allowed.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from archipel.domain.element_schemas import fqn
from archipel.errors import ConfigurationError

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["LINT_LEVELS", "apply_suppressions", "custom_findings", "gates", "lint_table"]

logger = logging.getLogger("archipel.check")

#: ``[lint].level`` values, each with the finding levels that fail the check
LINT_LEVELS: dict[str, frozenset[str]] = {
    "error": frozenset(),
    "warn": frozenset({"warning"}),
    "info": frozenset({"warning", "info"}),
}
_KEYS = {
    "level", "suppressions", "rules", "aggregate_size_limit", "handler_breadth_limit",
    "check_infra_imports", "check_adapter_calls",
}
_REQUIRED = ("code", "element", "level", "message")


def lint_table(config: Any) -> dict[str, Any]:
    """The ``[lint]`` table, checked (an empty dict when absent)."""
    table = config.get("lint") if hasattr(config, "get") else None
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ConfigurationError(f"[lint] must be a table, got {type(table).__name__}.")
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigurationError(
            f"[lint]: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_KEYS))}"
        )
    level = table.get("level", "warn")
    if level not in LINT_LEVELS:
        raise ConfigurationError(f"Invalid [lint].level: {level!r}. Use 'error', 'warn', or 'info'.")
    rules = table.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise ConfigurationError(f"[lint].rules must be a list of dotted paths, got {rules!r}.")
    for key in ("aggregate_size_limit", "handler_breadth_limit"):
        limit = table.get(key, 5)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ConfigurationError(f"[lint].{key} must be a non-negative integer, got {limit!r}.")
    for key in ("check_infra_imports", "check_adapter_calls"):
        if not isinstance(table.get(key, False), bool):
            raise ConfigurationError(f"[lint].{key} must be true or false, got {table[key]!r}.")
    suppressions = table.get("suppressions", {})
    if not isinstance(suppressions, dict):
        raise ConfigurationError(
            f"[lint].suppressions must be a table of {{code: count}}, got {type(suppressions).__name__}."
        )
    for code, count in suppressions.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ConfigurationError(
                f"[lint].suppressions.{code} must be a non-negative integer, got {count!r}."
            )
    return table


def apply_suppressions(domain: Domain, found: list[dict[str, Any]], table: dict[str, Any]) -> list[dict[str, Any]]:
    """Drop what elements' ``suppress_checks`` and ``[lint].suppressions`` silence; sort the rest."""
    silenced: dict[str, set[str]] = {}
    for elements in domain.registry.elements.values():
        for cls in elements.values():
            codes = cls._meta.get("suppress_checks") or ()
            if codes:
                silenced[fqn(cls)] = {codes} if isinstance(codes, str) else set(codes)
    kept = [d for d in found if d.get("code", "") not in silenced.get(d.get("element", ""), ())]
    kept.sort(key=lambda d: (d.get("code", ""), d.get("element", ""), d.get("field", ""), d.get("message", "")))
    allowance = dict(table.get("suppressions", {}))
    result = []
    for item in kept:
        code = item.get("code", "")
        if allowance.get(code, 0) > 0:
            allowance[code] -= 1
            continue
        result.append(item)
    return result


def custom_findings(table: dict[str, Any], ir: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``[lint].rules``: each ``rule(ir)`` returns finding dicts (a bad one is logged, skipped).

    ``ir`` is the domain's IR document, as Protean passes it. A rule that
    cannot be imported or raises is logged and skipped: it never breaks the check.
    """
    found: list[dict[str, Any]] = []
    for path in table.get("rules", []):
        module_path, _, name = path.rpartition(".")
        try:
            rule = getattr(importlib.import_module(module_path), name)
            results = rule(ir)
        except Exception as exc:  # noqa: BLE001 - a rule is user code; logged, never fatal
            logger.warning("Custom lint rule %r failed (%r), skipped", path, exc)
            continue
        if not isinstance(results, list):
            logger.warning("Custom lint rule %r returned %s instead of a list, so it was skipped",
                           path, type(results).__name__)
            continue
        for item in results:
            if not isinstance(item, dict) or any(k not in item for k in _REQUIRED):
                logger.warning("Custom lint rule %r returned an item without %s, so it was skipped",
                               path, ", ".join(_REQUIRED))
            elif item["level"] not in ("warning", "info"):
                logger.warning("Custom lint rule %r returned invalid level %r, so it was skipped",
                               path, item["level"])
            else:
                found.append({"category": "custom", **item})
    return found


def gates(report: dict[str, Any], level: str) -> bool:
    """Whether ``report`` fails at the ``[lint].level`` floor ``level``."""
    if report["errors"]:
        return True
    failing = LINT_LEVELS[level]
    return any(d.get("level") in failing for d in report["diagnostics"])
