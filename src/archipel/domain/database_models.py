"""Custom database models (``@domain.database_model``): which table an element is stored in.

Resolved once in ``init()``. Each model names the table (``schema_name``) of
one aggregate or projection, for one database type (``database=``) or for
all; whatever archipel does not do with a model is a ConfigurationError naming it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archipel.core.database_model import BaseDatabaseModel
from archipel.errors import ConfigurationError
from archipel.port import registry as provider_registry

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["database_type", "model_tables"]

_OWN = frozenset({"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__",
                  "__annotations__", "__firstlineno__", "__static_attributes__", "_meta", "meta_", "__orig_bases__"})


def database_type(domain: Domain, database: str) -> str:
    """The type (``memory``, ``sqlite``, ``postgresql``...) of the database named ``database``."""
    settings = (domain.config.get("databases") or {}).get(database) or {}
    provider = str(settings.get("provider", "memory"))
    if provider == "sql":
        uri = str(settings.get("database_uri", ""))
        return "sqlite" if uri.startswith("sqlite") else "postgresql"
    return provider


def model_tables(domain: Domain) -> dict[type, str]:
    """``{element class: table}`` from the domain's database models; ConfigurationError if one cannot apply."""
    chosen: dict[type, tuple[str | None, str]] = {}
    known = sorted({*provider_registry.providers("database")} - {"sql"})
    for model in domain.registry.of_kind("database_model").values():
        meta = model._meta
        name = model.__name__
        part_of = meta.part_of
        _check_declarations(model)
        if part_of is None:
            raise ConfigurationError(f"database model {name} needs part_of=<an aggregate or projection>")
        kind = getattr(getattr(part_of, "_meta", None), "kind", None)
        target = getattr(part_of, "__name__", repr(part_of))
        if kind not in ("aggregate", "projection"):
            raise ConfigurationError(
                f"database model {name}: part_of={target} is a {kind or 'class'}; archipel applies "
                "database models to aggregates and projections (an entity is stored with its aggregate)"
            )
        if part_of._meta.get("is_event_sourced"):
            raise ConfigurationError(
                f"database model {name}: {target} is event-sourced and has no table (its state is its events)"
            )
        if part_of._meta.get("cache"):
            raise ConfigurationError(f"database model {name}: {target} is held in a cache, not a database table")
        wanted = meta.get("database")
        if wanted is not None and wanted not in known:
            raise ConfigurationError(
                f"database model {name}: database={wanted!r} is not a database type; use one of {', '.join(known)}"
            )
        schema_name = meta.get("schema_name")
        if not schema_name:
            raise ConfigurationError(
                f"database model {name} changes nothing: give schema_name=... (the table of {target})"
            )
        stored_in = database_type(domain, part_of._meta.get("database") or part_of._meta.get("provider") or "default")
        if wanted is not None and wanted != stored_in:
            continue  # a model for another database type
        previous = chosen.get(part_of)
        if previous is not None and previous[0] == wanted:
            raise ConfigurationError(
                f"{target} has two database models for "
                f"{'database ' + repr(wanted) if wanted else 'every database'}: keep one",
                code="USAGE_DUPLICATE_DATABASE_MODEL",
                location="Domain.init",
            )
        if previous is None or wanted is not None:  # a model for this type beats the generic one
            chosen[part_of] = (wanted, str(schema_name))
    for cls, (_, table) in chosen.items():
        own = cls._meta.get("schema_name")  # type: ignore[attr-defined]
        if own and own != table:
            raise ConfigurationError(
                f"{cls.__name__} sets schema_name={own!r} and its database model {table!r}: keep one"
            )
    return {cls: table for cls, (_, table) in chosen.items()}


def _check_declarations(model: type) -> None:
    declared: list[str] = []
    for klass in model.__mro__:
        if klass in (BaseDatabaseModel, object):
            continue
        declared += [n for n in vars(klass) if n not in _OWN and n not in declared]
    if declared:
        raise ConfigurationError(
            f"database model {model.__name__} declares {', '.join(sorted(declared))}: archipel maps "
            "fields to columns itself (set referenced_as= on a field to name its column); a database "
            "model takes part_of=, schema_name= and database= only"
        )
