"""Masking secrets before a configuration or a URL is logged or shown.

Used by the domain's configuration (``archipel.domain.config.redact``) and by
adapters naming the database they failed to reach; it imports nothing of
archipel, so every layer may use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["map_leaves", "redact", "redact_text"]

URI_PASSWORD = re.compile(
    r"(?P<prefix>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)(?P<password>[^/?#\s]*)@"
)
_SENSITIVE_KEY_PARTS = ("password", "secret", "token")
_MASK = "***"


def redact(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return a deep copy of ``config`` that is safe to log or display.

    Tables and lists are copied; leaves (immutable TOML values) are shared.
    Passwords inside URIs (``scheme://user:PASSWORD@host``) become ``***`` in
    every string, and every value under a key containing ``password``,
    ``secret`` or ``token`` (case-insensitive) becomes ``***`` (``None`` stays
    ``None``: it reveals nothing). ``config`` is not mutated.
    """
    redacted: dict[str, Any] = map_leaves(config, "", _redact_leaf)
    return redacted


def redact_text(text: str) -> str:
    """``text`` with the password of every URI in it (``scheme://user:PASSWORD@host``) masked."""
    return URI_PASSWORD.sub(lambda m: f"{m.group('prefix')}{_MASK}@", text)


def map_leaves(value: Any, path: str, leaf: Callable[[str, Any], Any]) -> Any:
    """Rebuild ``value`` with new dicts, lists and tuples, and ``leaf(path, value)``
    for everything else; ``path`` is dotted, with ``[i]`` for list items."""
    if isinstance(value, Mapping):
        return {
            key: map_leaves(inner, f"{path}.{key}" if path else str(key), leaf)
            for key, inner in value.items()
        }
    if isinstance(value, list | tuple):
        items = [map_leaves(item, f"{path}[{i}]", leaf) for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    return leaf(path, value)


def _redact_leaf(path: str, value: Any) -> Any:
    # The path holds every enclosing key, so a whole [secrets] table is masked.
    if value is not None and any(part in path.lower() for part in _SENSITIVE_KEY_PARTS):
        return _MASK
    if isinstance(value, str):
        return URI_PASSWORD.sub(lambda m: f"{m.group('prefix')}{_MASK}@", value)
    return value
