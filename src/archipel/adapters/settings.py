"""The settings each built-in provider accepts: anything else in its table is an error.

A typo in ``[databases.default]`` (``pool_sise = 20``) would otherwise change
nothing and say nothing. Each provider checks its own table with
:func:`check_settings` when it is built, naming the table, the unknown keys and
what is allowed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from archipel.errors import ConfigurationError

__all__ = [
    "SQL_ENGINE_SETTINGS",
    "SWITCHABLE_SETTINGS",
    "check_settings",
]

#: what a SQL engine reads (:class:`~archipel.adapters.sql.engine.SqlEngine`)
SQL_ENGINE_SETTINGS = frozenset(
    {
        "database_uri",
        "echo",
        "pool_size",
        "max_overflow",
        "pool_timeout",
        "pool_recycle",
        "connect_timeout",
        "application_name",
        "synchronous",
        "wal_autocheckpoint",
        "busy_timeout",
    }
)

#: addresses a table may keep when its provider is chosen by an environment variable
#: (``provider = "${DB_PROVIDER|memory}"`` beside ``database_uri = ...``): a provider
#: that needs none accepts them and leaves them unused
SWITCHABLE_SETTINGS = frozenset({"database_uri", "URI", "url", "uri"})

#: domain settings TOML puts in a table when written after its header; the server
#: warns about them (``engine.server``), so they are not reported twice here
_DOMAIN_KEYS = frozenset({"event_processing", "command_processing", "message_processing", "enable_outbox"})


def check_settings(
    section: str, provider: str, settings: Mapping[str, Any], allowed: Collection[str]
) -> None:
    """Raise :class:`ConfigurationError` naming every key of ``settings`` that is not
    ``provider``, one of ``allowed``, or a domain key misplaced there by TOML."""
    known = {"provider", *allowed}
    unknown = sorted(k for k in settings if k not in known and k not in _DOMAIN_KEYS)
    if unknown:
        raise ConfigurationError(
            f"[{section}] unknown setting(s) {', '.join(unknown)} for provider {provider!r}; "
            f"allowed: {', '.join(sorted(known))}"
        )
