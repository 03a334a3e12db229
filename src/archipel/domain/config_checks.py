"""Checks of the configuration's tables of providers (``[databases.*]``, ``[brokers.*]``,
``[caches.*]``, ``[event_store]``) and of ``[docs]``: each returns the problems it found, as
sentences naming the key and what is allowed (:func:`archipel.domain.config.validate_config`
raises them together)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["NOT_AVAILABLE", "check_docs", "check_provider", "check_providers"]


def check_providers(label: str, key: str, tables: Any, known: Collection[str]) -> list[str]:
    if not isinstance(tables, Mapping):
        return [f"Invalid {key}: expected a table of named {label}s, e.g. [{key}.default]"]
    problems: list[str] = []
    for name, table in tables.items():
        problems += check_provider(label, f"{key}.{name}", table, known)
    return problems


#: providers Protean's documentation names that archipel cannot run, and why
NOT_AVAILABLE: dict[str, dict[str, str]] = {
    "database": {
        "elasticsearch": "archipel has no Elasticsearch adapter",
        "mssql": "archipel has no Microsoft SQL Server adapter",
    },
    "event store": {
        "message_db": "archipel has no Message DB adapter (its own SQL event store runs on PostgreSQL)",
    },
    "cache": {},
    "broker": {},
}


def check_provider(label: str, key: str, table: Any, known: Collection[str]) -> list[str]:
    known_list = ", ".join(sorted(known)) or "(none registered)"
    if not isinstance(table, Mapping):
        return [f"Invalid {key}: expected a table with a provider, e.g. [{key}]"]
    provider = table.get("provider")
    if provider is None:
        return [f"Missing {key}.provider; known {label} providers: {known_list}"]
    why = NOT_AVAILABLE.get(label, {}).get(provider) if isinstance(provider, str) else None
    if why is not None and provider not in known:
        return [f"{label.capitalize()} provider {provider!r} at {key}.provider is not available: {why}; use one of: {known_list}"]
    if not isinstance(provider, str) or provider not in known:
        return [f"Unknown {label} provider {provider!r} at {key}.provider; known: {known_list}"]
    return []


def check_docs(docs: Any) -> list[str]:
    """``[docs]``: ``archipel docs generate``'s settings (``domain_snapshot = {path, domain}``)."""
    if docs is None:
        return []
    if not isinstance(docs, Mapping) or set(docs) - {"domain_snapshot"}:
        return [f"Invalid [docs] {docs!r}; it takes domain_snapshot = {{path = ..., domain = ...}}"]
    snapshot = docs.get("domain_snapshot")
    if snapshot is not None and (
        not isinstance(snapshot, Mapping)
        or set(snapshot) - {"path", "domain"}
        or not all(isinstance(value, str) and value.strip() for value in snapshot.values())
    ):
        return [
            f"Invalid [docs] domain_snapshot {snapshot!r}; it takes path and domain, non-empty strings "
            "(the llms.txt file and the domain it is rendered from)"
        ]
    return []
