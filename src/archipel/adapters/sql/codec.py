"""JSON text of records and messages, as archipel's SQL tables store it.

msgspec keeps key order and encodes about ten times faster than ``json``;
the values given are primitive already (records and messages are).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

__all__ = ["dumps", "encode", "loads"]

#: JSON bytes of a primitive value (``dumps`` decodes them)
encode: Callable[[Any], bytes] = msgspec.json.Encoder().encode

#: the value of JSON text (str or bytes)
loads: Callable[[str | bytes], Any] = msgspec.json.Decoder().decode


def dumps(value: Any) -> str:
    """Compact JSON text of a primitive value."""
    return encode(value).decode()
