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

__all__ = [
    "DEFAULT_REDACT_KEYS",
    "LOG_MASK",
    "SCALAR_TYPES",
    "is_container",
    "map_leaves",
    "mask_keys",
    "redact",
    "redact_keys",
    "redact_text",
]

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
    Mappings, lists and tuples are searched at any depth; one holding a masked key is
    rebuilt (as dict, list, tuple), one without is returned as it is (other mappings
    and sequences always come back as dict, list, tuple); ``value`` is not mutated,
    and a container holding itself is left as it is below its first occurrence.
    """
    return _mask(value, keys, mask, set())


#: the types a log field's value usually has, which hold no keys: skipped at once (a
#: log line's dozens of fields are checked per line, so ``isinstance`` against the
#: ``Mapping`` ABC for each would cost more than the rest of the masking)
SCALAR_TYPES: frozenset[type] = frozenset({str, int, float, bool, type(None), bytes})


def is_container(value: Any) -> bool:
    """Whether :func:`mask_keys` looks inside ``value`` (a mapping, list or tuple)."""
    kind = type(value)
    if kind is dict or kind is list or kind is tuple:
        return True
    return kind not in SCALAR_TYPES and isinstance(value, Mapping | list | tuple)


def _mask(value: Any, keys: frozenset[str], mask: str, open_: set[int]) -> Any:
    kind = type(value)
    if kind in SCALAR_TYPES or not is_container(value) or id(value) in open_:
        return value
    open_.add(id(value))
    try:
        changed = kind is not dict and kind is not list and kind is not tuple  # others become dict/list/tuple
        if isinstance(value, Mapping):
            masked = {}
            for key, inner in value.items():
                if isinstance(key, str) and key.lower() in keys:
                    masked[key] = mask
                    changed = True
                else:
                    new = _mask(inner, keys, mask, open_)
                    changed = changed or new is not inner
                    masked[key] = new
            return masked if changed else value  # nothing masked: the same dict, not a copy
        items = []
        for item in value:
            new = _mask(item, keys, mask, open_)
            changed = changed or new is not item
            items.append(new)
        if not changed:
            return value
        return items if isinstance(value, list) else tuple(items)
    finally:
        open_.discard(id(value))
