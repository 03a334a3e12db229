"""What archipel's SQLite tables and queries call on every connection.

The ``archipel_decimal`` collation (decimal text compared as numbers),
``archipel_lower`` (Python's Unicode ``str.lower``, for ``iexact`` and
``icontains``) and ``archipel_json_key`` (JSON text in a form equal when the
JSON values are). Registered by the engine on each connection it opens; a
connection opened by other code gets them with
:func:`register_sqlite_functions`.
"""

from __future__ import annotations

import decimal
from typing import Any

import msgspec

from archipel.adapters.sql.codec import dumps, loads
from archipel.utils.lookups import json_canonical

__all__ = ["register_sqlite_functions"]


def _decimal_order(left: str, right: str) -> int:
    """The ``archipel_decimal`` collation: decimal text compared as numbers, NaN last."""
    a, b = _as_decimal(left), _as_decimal(right)
    if a is None or b is None:  # text that is no number sorts after numbers, as text
        ka: Any = (a is None, left if a is None else 0)
        kb: Any = (b is None, right if b is None else 0)
    else:
        ka, kb = (a.is_nan(), 0 if a.is_nan() else a), (b.is_nan(), 0 if b.is_nan() else b)
    return -1 if ka < kb else (1 if ka > kb else 0)


def _as_decimal(text: str) -> decimal.Decimal | None:
    try:
        return decimal.Decimal(text)
    except (decimal.InvalidOperation, ValueError):
        return None


def _lower(text: Any) -> Any:
    return text.lower() if isinstance(text, str) else text


def _json_key(text: Any) -> Any:
    if not isinstance(text, (str, bytes)):
        return text
    try:
        return dumps(json_canonical(loads(text)))
    except msgspec.DecodeError:
        return text


def register_sqlite_functions(connection: Any) -> None:
    """Register what archipel's SQLite tables and queries use on a sqlite3 connection:
    the ``archipel_decimal`` collation of decimal columns, ``archipel_lower``
    (Python's Unicode ``str.lower``, for ``iexact``/``icontains``) and
    ``archipel_json_key`` (JSON text in a form equal when the JSON values are)."""
    connection.create_collation("archipel_decimal", _decimal_order)
    connection.create_function("archipel_lower", 1, _lower, deterministic=True)
    connection.create_function("archipel_json_key", 1, _json_key, deterministic=True)
