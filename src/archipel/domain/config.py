"""A domain's configuration: defaults, ``domain.toml`` files, overlays, ``${VAR}``.

:func:`load_config` builds the configuration of one domain as a deep merge, later
layers winning::

    DEFAULTS <- file table <- [<ARCHIPEL_ENV>] table of that file <- overrides

The file is the first of ``.domain.toml``, ``domain.toml`` or ``pyproject.toml``
(its ``[tool.archipel]`` table) found in the domain module's directory or one of
its two parents. Afterwards every ``${VAR}`` / ``${VAR|default}`` placeholder in
any string is replaced with the environment variable's value.

:func:`validate_config` checks a loaded configuration against the providers the
framework knows; :func:`redact` masks secrets before a config is shown.
Nothing here reads the environment or the file system at import time.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from archipel.domain.config_checks import check_docs, check_provider, check_providers
from archipel.domain.logging_config import check_logging
from archipel.domain.telemetry import check_telemetry
from archipel.errors import ConfigurationError
from archipel.utils.redaction import map_leaves, redact

__all__ = ["CONFIG_FILE_NAMES", "DEFAULTS", "ENVIRONMENT_VARIABLE", "PROCESSING_MODES"]
__all__ += ["Config", "deep_merge", "find_config_file", "load_config", "redact", "validate_config"]

_log = logging.getLogger("archipel.config")

#: Files looked for in each directory, in this order; the first one found wins.
CONFIG_FILE_NAMES: tuple[str, ...] = (".domain.toml", "domain.toml", "pyproject.toml")

#: Names the top-level table of the config file merged over the rest of it.
ENVIRONMENT_VARIABLE = "ARCHIPEL_ENV"
#: Read when ``ARCHIPEL_ENV`` is not set: a ported Protean deployment keeps its variable.
PROTEAN_ENVIRONMENT_VARIABLE = "PROTEAN_ENV"

#: Allowed values of ``command_processing``, ``event_processing`` and ``message_processing``.
PROCESSING_MODES: frozenset[str] = frozenset({"sync", "async"})

#: The configuration of a domain with no file and no overrides. Never mutated
#: by this module: every function works on copies.
DEFAULTS: dict[str, Any] = {
    "command_processing": "sync",
    "event_processing": "sync",
    "message_processing": "sync",
    "enable_outbox": False,
    "identity_strategy": "uuid",
    "identity_type": "string",
    "snapshot_threshold": 10,
    "databases": {"default": {"provider": "memory"}},
    "brokers": {"default": {"provider": "inline"}},
    "event_store": {"provider": "memory"},
    "caches": {"default": {"provider": "memory"}},
    "server": {
        "default_subscription_type": "stream",
        "messages_per_tick": 100,
        "priority_lanes": False,
        "health_port": None,
        "stream_subscription": {
            "blocking_timeout_ms": 100,
            "max_retries": 3,
            "retry_delay_seconds": 1,
            "enable_dlq": True,
        },
    },
    "custom": {},
}

#: Top-level keys archipel reads (anything else is a typo, or Protean's: see below).
KNOWN_KEYS: frozenset[str] = frozenset(DEFAULTS) | {
    "idempotency", "integration", "email_providers", "consume_idempotency", "logging",
    "command_default_timeout", "field_defaults", "telemetry", "source_uri", "lint",
    "lenient_deserialization", "docs",
}

#: Protean 0.18's top-level keys that archipel accepts, so a ported ``domain.toml``
#: loads, but does not act on: a value other than Protean's default is logged as a
#: warning at ``init()`` saying so (never silently ignored).
PROTEAN_ONLY_KEYS: dict[str, Any] = {
    "env": None,
    "testing": None,
    "debug": None,
    "secret_key": None,
    "outbox": None,
    "observatory": None,
}

_PYPROJECT = "pyproject.toml"
_PARENT_LEVELS = 2

# A default may hold anything but "}" -- and not "${", so that an attempt at a
# nested placeholder is reported as malformed instead of half-substituted.
_PLACEHOLDER = re.compile(
    r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:\|(?P<default>(?:(?!\$\{)[^}])*))?\}"
)


class Config(dict[str, Any]):
    """A domain's configuration: a plain ``dict`` whose nested tables are plain dicts.

    ``source`` is the file the configuration was read from, or ``None`` when no
    file was found (defaults and overrides only).
    """

    source: Path | None = None

    def get_path(self, path: str, default: Any = None) -> Any:
        """Return the value at dotted ``path`` (``"server.stream_subscription.max_retries"``).

        Returns ``default`` when any segment is missing or traverses a non-table.
        """
        return _get_path(self, path, default)


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Return a new dict: ``base`` with ``overlay`` merged in, ``overlay`` winning.

    Tables present in both are merged key by key, recursively; any other value
    in ``overlay`` (scalar, list, or a table replacing a scalar) replaces the
    one in ``base``. Neither argument is mutated and the result shares no
    dict or list with them.
    """
    merged: dict[str, Any] = {key: _copy_tree(value) for key, value in base.items()}
    for key, value in overlay.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = _copy_tree(value)
    return merged


def find_config_file(start_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """Find the configuration file governing ``start_dir`` and parse it.

    Looks in ``start_dir``, then its parent, then its grandparent; in each
    directory it tries ``.domain.toml``, ``domain.toml`` and ``pyproject.toml``
    in that order. A ``pyproject.toml`` counts only with a ``[tool.archipel]``
    table (else Protean's ``[tool.protean]``): the configuration table. Returns
    the first hit as ``(path, table)``, or ``None``.

    Raises :class:`ConfigurationError` naming the file when a candidate cannot
    be read or is not valid TOML.
    """
    directory = Path(start_dir).resolve()
    for _ in range(_PARENT_LEVELS + 1):
        for name in CONFIG_FILE_NAMES:
            candidate = directory / name
            if not candidate.is_file():
                continue
            data = _read_toml(candidate)
            if name != _PYPROJECT:
                return candidate, data
            tool = data.get("tool")
            tools = tool if isinstance(tool, dict) else {}
            name_found = next((n for n in ("archipel", "protean") if n in tools), None)
            if name_found is None:
                continue
            table = tools[name_found]
            if not isinstance(table, dict):
                raise ConfigurationError(
                    f"{candidate}: 'tool.{name_found}' must be a table; write [tool.{name_found}]"
                )
            return candidate, table
        if directory.parent == directory:
            break
        directory = directory.parent
    return None


def load_config(
    domain_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build a domain's configuration.

    ``domain_file`` is the file defining the domain (usually the module's
    ``__file__``; a directory is also accepted). The configuration file is
    searched from its directory with :func:`find_config_file`; ``None`` means
    no file. ``overrides`` (``Domain(config={...})``) are deep-merged last and
    win. ``environ`` defaults to ``os.environ`` and serves both
    ``ARCHIPEL_ENV`` (``PROTEAN_ENV`` when it is unset) and the ``${VAR}`` placeholders.

    When ``ARCHIPEL_ENV`` names a top-level table of the file, that table is
    merged over the rest of the file. Environment tables are not part of the
    result: the selected one, and any other top-level table that is not a
    default key and holds only configuration keys (``[staging]`` with
    ``databases``...), so that an unused environment's placeholders need no
    variables. Every other key, known or not, is kept.

    Raises :class:`ConfigurationError` for an unreadable or invalid file, a
    bad environment table, or a placeholder whose variable is unset and has
    no default. Never mutates ``DEFAULTS``, ``overrides`` or ``environ``.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    source: Path | None = None
    table: dict[str, Any] = {}
    if domain_file is not None:
        path = Path(domain_file)
        found = find_config_file(path if path.is_dir() else path.parent)
        if found is not None:
            source, table = found

    environment = env.get(ENVIRONMENT_VARIABLE) or env.get(PROTEAN_ENVIRONMENT_VARIABLE)
    merged = deep_merge(DEFAULTS, _apply_environment(table, environment, source))
    if overrides:
        merged = deep_merge(merged, overrides)

    config = Config(map_leaves(merged, "", lambda path, leaf: _substitute(path, leaf, env)))
    config.source = source
    return config


def validate_config(
    config: Mapping[str, Any],
    *,
    database_providers: Collection[str],
    broker_providers: Collection[str],
    event_store_providers: Collection[str],
    cache_providers: Collection[str] = ("memory", "redis"),
) -> None:
    """Check a loaded configuration; raise :class:`ConfigurationError` if it is wrong.

    Checks that the three processing modes are ``"sync"`` or ``"async"``; that
    ``databases.default`` exists; that every ``databases.<name>.provider``,
    ``brokers.<name>.provider`` and ``event_store.provider`` is one of the
    given providers; that ``server.messages_per_tick`` is a positive integer
    and ``server.stream_subscription.max_retries`` a non-negative one; that
    every top-level key is archipel's (:data:`KNOWN_KEYS`) or Protean's
    (:data:`PROTEAN_ONLY_KEYS`, accepted without effect: a value other than
    Protean's default is logged as a warning; ``[logging]``: see
    :mod:`~archipel.domain.logging_config`). Providers check their own tables. All problems are reported
    together, one per line, each naming its key.
    """
    problems: list[str] = []
    unknown = sorted(k for k in config if k not in KNOWN_KEYS and k not in PROTEAN_ONLY_KEYS)
    if unknown:
        problems.append(
            f"Unknown configuration key(s) {', '.join(map(repr, unknown))}; known: "
            f"{', '.join(sorted(KNOWN_KEYS))} (and Protean's {', '.join(sorted(PROTEAN_ONLY_KEYS))}, "
            "accepted without effect); put your own settings under [custom]"
        )
    for key in sorted(PROTEAN_ONLY_KEYS):
        if key in config and config[key] not in (None, PROTEAN_ONLY_KEYS[key], {}):
            _log.warning(
                "configuration: %r is a Protean setting archipel does not use; it has no effect "
                "(see docs/porting.md)",
                key,
            )
    if not isinstance(config.get("lenient_deserialization", False), bool):
        problems.append(f"lenient_deserialization must be true or false, got {config['lenient_deserialization']!r}")
    problems += check_telemetry(config.get("telemetry"))
    problems += check_logging(config.get("logging"), _log)
    problems += check_docs(config.get("docs"))
    if not isinstance(config.get("source_uri") or "", str):
        problems.append(f"Invalid source_uri {config['source_uri']!r}; expected a URI (CloudEvents' source)")
    field_defaults = config.get("field_defaults")
    if field_defaults is not None and (
        not isinstance(field_defaults, Mapping)
        or set(field_defaults) - {"sanitize"}
        or not isinstance(field_defaults.get("sanitize", False), bool)
    ):
        problems.append(
            f"Invalid [field_defaults] {field_defaults!r}; it takes sanitize = true|false (the "
            "default of String/Text sanitize=, Protean's)"
        )
    timeout = config.get("command_default_timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        problems.append(
            f"Invalid command_default_timeout {timeout!r}; expected seconds (> 0), or leave it out"
        )
    for key in ("command_processing", "event_processing", "message_processing"):
        mode = config.get(key)
        if mode not in PROCESSING_MODES:
            problems.append(f"Invalid {key} {mode!r}; expected 'sync' or 'async'")

    databases = config.get("databases")
    if not isinstance(databases, Mapping) or "default" not in databases:
        problems.append(
            "Missing databases.default; every domain needs a default database, "
            'e.g. [databases.default] provider = "memory"'
        )
    if isinstance(databases, Mapping):
        problems += check_providers("database", "databases", databases, database_providers)
    problems += check_providers("broker", "brokers", config.get("brokers"), broker_providers)
    problems += check_provider(
        "event store", "event_store", config.get("event_store"), event_store_providers
    )
    if config.get("caches") is not None:
        problems += check_providers("cache", "caches", config.get("caches"), cache_providers)

    threshold = config.get("snapshot_threshold", 10)
    if not _is_int(threshold) or threshold < 0:
        problems.append(
            f"Invalid snapshot_threshold {threshold!r}; expected a whole number of events >= 0 "
            "(0 turns automatic snapshots off)"
        )
    if _get_path(config, "server.transient_retry") is not None:
        problems.append(
            "server.transient_retry is not supported: give the handlers that need in-process "
            "retries retries=N (and retry_exceptions=[...]); the server retries transient "
            "errors per [server.stream_subscription] max_retries"
        )
    tick = _get_path(config, "server.messages_per_tick")
    if not _is_int(tick) or tick < 1:
        problems.append(f"Invalid server.messages_per_tick {tick!r}; expected a positive integer")
    retries = _get_path(config, "server.stream_subscription.max_retries")
    if not _is_int(retries) or retries < 0:
        problems.append(
            f"Invalid server.stream_subscription.max_retries {retries!r}; expected an integer >= 0"
        )
    if problems:
        raise ConfigurationError("\n".join(problems))


# -- helpers ---------------------------------------------------------------



def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"Invalid TOML in {path}: {exc}") from exc
    except OSError as exc:
        raise ConfigurationError(f"Cannot read configuration file {path}: {exc}") from exc


def _apply_environment(
    table: dict[str, Any], environment: str | None, source: Path | None
) -> dict[str, Any]:
    """Return the file table with the selected environment table merged in and
    all environment tables removed."""
    if environment and environment in DEFAULTS:
        raise ConfigurationError(
            f"{ENVIRONMENT_VARIABLE}={environment!r} names a configuration key, not an "
            f"environment; choose another name, e.g. {ENVIRONMENT_VARIABLE}=production"
        )
    overlay = table.get(environment) if environment else None
    if overlay is not None and not isinstance(overlay, dict):
        raise ConfigurationError(
            f"{source}: '{environment}' (selected by {ENVIRONMENT_VARIABLE}) must be a "
            f"table of settings; write [{environment}]"
        )
    base = {
        key: value
        for key, value in table.items()
        if key != environment and not _looks_like_environment(key, value)
    }
    return deep_merge(base, overlay) if overlay else base


def _looks_like_environment(key: str, value: Any) -> bool:
    return (
        key not in DEFAULTS
        and isinstance(value, dict)
        and bool(value)
        and all(inner in KNOWN_KEYS or inner in PROTEAN_ONLY_KEYS for inner in value)
    )


def _copy_tree(value: Any) -> Any:
    # Leaves are shared: overrides may hold objects that cannot be deep-copied.
    return map_leaves(value, "", lambda _path, leaf: leaf)


def _substitute(path: str, text: Any, environ: Mapping[str, str]) -> Any:
    if not isinstance(text, str) or "${" not in text:
        return text
    if "${" in _PLACEHOLDER.sub("", text):
        raise ConfigurationError(
            f"Malformed placeholder in {path}: {text!r}; write ${{VAR}} or ${{VAR|default}} "
            "(a variable name, then optionally '|' and a default without '}')"
        )

    def replace(match: re.Match[str]) -> str:
        name, default = match.group("name"), match.group("default")
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigurationError(
            f"Environment variable {name} is not set, but {path} uses ${{{name}}}; "
            f"set {name} or write ${{{name}|default}}",
            code="CONFIG_UNRESOLVED_ENV_VAR",
            location=f"config ({path})",
        )

    return _PLACEHOLDER.sub(replace, text)


def _get_path(config: Mapping[str, Any], path: str, default: Any = None) -> Any:
    node: Any = config
    for segment in path.split("."):
        if not isinstance(node, Mapping) or segment not in node:
            return default
        node = node[segment]
    return node


def _is_int(value: Any) -> bool:
    # bool is an int subclass; `messages_per_tick = true` is a mistake, not 1.
    return isinstance(value, int) and not isinstance(value, bool)
