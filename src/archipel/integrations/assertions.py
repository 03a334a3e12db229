"""Protean's test assertions: ``assert_chain`` and ``assert_snapshot`` (:mod:`archipel.testing`).

- :func:`assert_chain` compares a correlation chain
  (``domain.correlation_trace(correlation_id)``) with the message types a test expects;
- :func:`assert_snapshot` compares an object's dict form with a JSON file kept
  beside the test (``<test dir>/__snapshots__/<test module>/<name>.json``),
  written on the first run and rewritten with ``pytest --update-snapshots``
  (or ``ARCHIPEL_UPDATE_SNAPSHOTS=1``).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import difflib
import enum
import json
import os
import re
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from archipel.errors import IncorrectUsageError

__all__ = ["assert_chain", "assert_snapshot"]

#: set by the pytest plugin's ``--update-snapshots``: snapshots are rewritten, never compared
update_snapshots = False

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _expected_type(item: Any) -> str:
    if isinstance(item, str):
        return item
    type_string = getattr(getattr(item, "_meta", None), "type_string", None)
    if isinstance(item, type) and type_string:
        return str(type_string)
    raise IncorrectUsageError(
        f"assert_chain expects message type strings ('Shop.OrderPlaced.v1') or registered "
        f"command/event classes of an initialised domain, got {item!r}"
    )


def assert_chain(chain: Sequence[Any], expected: Sequence[str | type]) -> None:
    """Assert that ``chain`` holds exactly the ``expected`` message types, in order.

    ``chain`` is a list of :class:`~archipel.port.event_store.CausationNode`
    (``domain.correlation_trace(correlation_id)``, depth-first: each message
    before its effects). Each expected item is a type string
    (``"Shop.PlaceOrder.v1"``) or a registered command/event class (its type
    string). ``AssertionError`` names the first difference (or the lengths).
    """
    wanted = [_expected_type(item) for item in expected]
    found = [node.message_type for node in chain]
    for position, (want, got) in enumerate(zip(wanted, found, strict=False)):
        if want != got:
            raise AssertionError(
                f"correlation chain differs at position {position}: expected {want!r}, got {got!r}\n"
                f"  expected: {wanted}\n  actual:   {found}"
            )
    if len(wanted) != len(found):
        raise AssertionError(
            f"correlation chain has {len(found)} messages, expected {len(wanted)}\n"
            f"  expected: {wanted}\n  actual:   {found}"
        )


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    for method in ("to_dict", "model_dump"):
        convert = getattr(obj, method, None)
        if callable(convert):
            result = convert()
            if isinstance(result, Mapping):
                return dict(result)
    raise TypeError(
        f"assert_snapshot takes a dict, or an object with to_dict() or model_dump(); "
        f"got {type(obj).__name__}"
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, tuple):
        return list(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    raise TypeError(f"assert_snapshot cannot write {type(value).__name__} values as JSON: {value!r}")


def _snapshot_path(name: str, test_file: str) -> Path:
    if not _NAME.fullmatch(name) or ".." in name:
        raise IncorrectUsageError(
            f"assert_snapshot name {name!r} must be a plain file stem (letters, digits, '_', '-', '.'), "
            "e.g. 'order_with_items'"
        )
    test_path = Path(test_file)
    return test_path.parent / "__snapshots__" / test_path.stem / f"{name}.json"


def _updating() -> bool:
    return update_snapshots or os.environ.get("ARCHIPEL_UPDATE_SNAPSHOTS", "") not in ("", "0")


def assert_snapshot(obj: Any, name: str, *, exclude: list[str] | None = None) -> None:
    """Assert that ``obj``'s dict form equals the stored snapshot ``name``.

    ``obj`` is a dict, or has ``to_dict()`` (archipel elements) or
    ``model_dump()`` (Pydantic); otherwise ``TypeError``. Top-level keys in
    ``exclude`` (volatile ones: ``id``, ``created_at``) are left out. Dates,
    UUIDs, decimals and enums are written as text. The snapshot is
    ``<test dir>/__snapshots__/<test module>/<name>.json`` beside the calling
    test file; it is written when missing (or with ``--update-snapshots``),
    else compared: ``AssertionError`` with a unified diff on a difference.
    """
    caller_file = sys._getframe(1).f_code.co_filename
    path = _snapshot_path(name, caller_file)
    data = _as_dict(obj)
    for key in exclude or ():
        data.pop(key, None)
    current = json.dumps(data, indent=2, sort_keys=True, default=_json_default, ensure_ascii=False) + "\n"
    if _updating() or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(current, encoding="utf-8")
        return
    stored_text = path.read_text(encoding="utf-8")
    try:
        stored = json.dumps(json.loads(stored_text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    except json.JSONDecodeError as exc:
        raise AssertionError(f"snapshot {path} is not valid JSON ({exc}); rewrite it with --update-snapshots") from None
    if stored != current:
        diff = "".join(
            difflib.unified_diff(
                stored.splitlines(keepends=True),
                current.splitlines(keepends=True),
                fromfile=f"{path} (stored)",
                tofile=f"{name} (current)",
            )
        )
        raise AssertionError(
            f"{name} differs from its snapshot (pytest --update-snapshots rewrites it):\n{diff}"
        )
