"""``.archipel/config.toml``: how ``archipel ir diff`` and ``ir check`` treat changes.

Protean's ``.protean/config.toml``, same tables and keys::

    [compatibility]
    strictness = "strict"        # "strict" (breaking -> exit 1), "warn" (exit 0), "off" (skip)
    exclude = ["app.LegacyEvent"]  # element paths left out of the classified report

    [compatibility.deprecation]
    min_versions_before_removal = 3

    [staleness]
    enabled = true               # false: `ir check` always reports fresh

    [domains]
    orders = "app.orders.domain" # logical name -> module path

No file means the defaults. A key archipel does not know is an error
naming it and the allowed ones (Protean ignores it).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CompatConfig", "load_config"]

_STRICTNESS = ("off", "strict", "warn")
_KEYS: dict[str, set[str]] = {
    "": {"compatibility", "staleness", "domains"},
    "compatibility": {"strictness", "exclude", "deprecation"},
    "compatibility.deprecation": {"min_versions_before_removal"},
    "staleness": {"enabled"},
}


@dataclass(frozen=True)
class CompatConfig:
    """The settings of ``config.toml`` (defaults when absent)."""

    strictness: str = "strict"
    exclude: tuple[str, ...] = ()
    min_versions_before_removal: int = 3
    staleness_enabled: bool = True
    domains: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.strictness not in _STRICTNESS:
            raise ValueError(f"Invalid strictness value: {self.strictness!r}. Must be one of: {', '.join(_STRICTNESS)}")
        value = self.min_versions_before_removal
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError("compatibility.deprecation.min_versions_before_removal must be a positive integer")
        if not isinstance(self.staleness_enabled, bool):
            raise ValueError("staleness.enabled must be a boolean")

    def is_excluded(self, element_fqn: str) -> bool:
        """Whether ``element_fqn`` is listed in ``exclude``."""
        return element_fqn in self.exclude


def load_config(directory: Path | str = ".archipel") -> CompatConfig:
    """Read ``<directory>/config.toml``; ``ValueError`` naming the problem when it is malformed."""
    path = Path(directory) / "config.toml"
    if not path.exists():
        return CompatConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"Could not read {path}: {exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"Invalid TOML in {path}: {exc}") from exc
    return _parse(data)


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name.rpartition(".")[2], {})
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a TOML table, not {type(value).__name__}")
    return value


def _check_keys(table: dict[str, Any], name: str) -> None:
    unknown = sorted(set(table) - _KEYS[name])
    if unknown:
        where = f"[{name}]" if name else "the top level"
        raise ValueError(
            f"unknown key(s) {', '.join(unknown)} in {where}; allowed: {', '.join(sorted(_KEYS[name]))}"
        )


def _parse(data: dict[str, Any]) -> CompatConfig:
    _check_keys(data, "")
    compat = _table(data, "compatibility")
    _check_keys(compat, "compatibility")
    deprecation = _table(compat, "compatibility.deprecation")
    _check_keys(deprecation, "compatibility.deprecation")
    staleness = _table(data, "staleness")
    _check_keys(staleness, "staleness")
    domains = _table(data, "domains")
    kwargs: dict[str, Any] = {}
    if "strictness" in compat:
        kwargs["strictness"] = compat["strictness"]
    if "exclude" in compat:
        exclude = compat["exclude"]
        if not isinstance(exclude, list) or not all(isinstance(e, str) for e in exclude):
            raise ValueError("compatibility.exclude must be a list of strings")
        kwargs["exclude"] = tuple(exclude)
    if "min_versions_before_removal" in deprecation:
        kwargs["min_versions_before_removal"] = deprecation["min_versions_before_removal"]
    if "enabled" in staleness:
        kwargs["staleness_enabled"] = staleness["enabled"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in domains.items()):
        raise ValueError('domains entries must be string key-value pairs (name = "module.path")')
    kwargs["domains"] = dict(domains)
    return CompatConfig(**kwargs)
