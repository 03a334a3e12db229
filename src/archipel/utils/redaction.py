"""Masking secrets before a configuration, a URL or a log record is logged or shown.

Used by the domain's configuration (``archipel.domain.config.redact``), by
adapters naming the database they failed to reach, and by the log pipeline
(:func:`mask_keys`, ``configure_logging(redact=[...])``); it imports nothing of
archipel, so every layer may use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["DEFAULT_REDACT_KEYS", "LOG_MASK", "map_leaves", "mask_keys", "redact", "redact_keys", "redact_text"]

URI_PASSWORD = re.compile(
    r"(?P<prefix>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)(?P<password>[^/?#\s]*)@"
)
_SENSITIVE_KEY_PARTS = ("password", "secret", "token")
_MASK = "***"

#: Protean's ``DEFAULT_REDACT_KEYS``: the field names a log pipeline with redaction
#: on always masks, whatever else it is given (case-insensitive)
DEFAULT_REDACT_KEYS: tuple[str, ...] = (
    "password",
    "token",
    "secret",
    "api_key",
    "authorization",
    "cookie",
    "session",
    "csrf",
)
#: what a masked log field holds (Protean's)
LOG_MASK = "[REDACTED]"


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


def redact_keys(extra: Iterable[str] | None = None) -> frozenset[str]:
    """The lower-cased field names to mask: :data:`DEFAULT_REDACT_KEYS` and ``extra``.

    The defaults are always in (Protean's rule: a custom list adds to them).
    Raises ``TypeError`` for a lone string (it would mask its letters) or a name
    that is not a string.
    """
    if isinstance(extra, str | bytes):
        raise TypeError(f"redact takes a list of field names, e.g. [{extra!r}], not {extra!r}")
    names = list(extra or ())
    wrong = [name for name in names if not isinstance(name, str)]
    if wrong:
        raise TypeError(f"redact takes field names (strings); got {wrong!r}")
    return frozenset(name.lower() for name in (*DEFAULT_REDACT_KEYS, *names))


def mask_keys(value: Any, keys: frozenset[str], mask: str = LOG_MASK) -> Any:
    """``value`` with the value of every mapping key in ``keys`` replaced by ``mask``.

    Keys match case-insensitively (``keys`` lower-cased, see :func:`redact_keys`)
    and exactly; a matching key's whole value is masked, whatever it holds.
    Mappings, lists and tuples are searched at any depth and rebuilt (as dict,
    list, tuple); ``value`` is not mutated, and a container holding itself is
    left as it is below its first occurrence.
    """
    return _mask(value, keys, mask, set())


def _mask(value: Any, keys: frozenset[str], mask: str, open_: set[int]) -> Any:
    if not isinstance(value, Mapping | list | tuple) or id(value) in open_:
        return value
    open_.add(id(value))
    try:
        if isinstance(value, Mapping):
            return {
                key: mask if isinstance(key, str) and key.lower() in keys else _mask(inner, keys, mask, open_)
                for key, inner in value.items()
            }
        items = [_mask(item, keys, mask, open_) for item in value]
        return items if isinstance(value, list) else tuple(items)
    finally:
        open_.discard(id(value))
