"""PostgreSQL: a column of values bound as one array literal, made by a few C calls.

An engine batch binds each column of its new rows, its processed records'
message ids and the ids it looks up as arrays (``%(name)b::<type>[]``).
psycopg dumps a list in Python, element by element (its binary array dumper:
a dumper call, two appends and a length packed per element, ~2 400
instructions for a 36-character id; its text dumper checks every element
against a regular expression). Most of these columns hold strings without a
quote, backslash or NUL (ids, names) or plain ints (versions): those are sent
as the text of the array instead — ``{"a","b"}``, ``{1,2}`` — joined in C
(~10 times fewer instructions). Bound to a ``%b`` placeholder, a ``str`` goes
as a ``text`` value, which the statement's cast to ``<type>[]`` reads as an
array literal: the same elements as the list, converted to the column's type
by the same input functions.

A column of plain floats goes in PostgreSQL's binary form of a ``float8[]``
(:class:`Float8Array`, whose dumper each engine connection is given), each element
packed by one C call: the bytes psycopg's binary dumper makes, element by element.

A ``None`` among strings is an unquoted ``NULL``. Anything else (a quote or
backslash to escape, a NUL PostgreSQL would refuse, another type, no values)
is returned as the list, for psycopg to dump, or refuse, as before.
"""

from __future__ import annotations

import struct
from functools import cache
from itertools import repeat
from typing import Any

__all__ = ["Float8Array", "float_array", "int_array", "register_float8_arrays", "text_array"]

_INT = {int}
_NUL = {None: "\x00"}
_FLOAT = {float}
#: PostgreSQL's built-in type oids of ``float8`` and ``float8[]``
_FLOAT8_OID, _FLOAT8_ARRAY_OID = 701, 1022
#: a one-dimension array's header: dimensions, has-NULL flag, element type, length, lower bound
_HEAD = struct.Struct(">iiIii").pack
#: an element of a float8 array: its length (8), its value
_DOUBLE = struct.Struct(">id").pack


def text_array(values: list[Any]) -> Any:
    """``values`` as the text of a PostgreSQL array (``str``) when every one is a ``str``
    without ``"``, ``\\`` or NUL, or None; else ``values`` itself."""
    try:
        flat = "".join(values)  # (a TypeError: a None or another type among them)
    except TypeError:
        return _with_nulls(values)
    if not values or '"' in flat or "\\" in flat or "\x00" in flat:
        return values
    return '{"' + '","'.join(values) + '"}'


def _with_nulls(values: list[Any]) -> Any:
    """:func:`text_array` of strings and Nones: each None a NUL first (``_NUL.get(v, v)``,
    in C), which no string holds, then an unquoted ``NULL``."""
    try:
        flat = "".join(filter(None, values))  # the strings (and falsy others, refused below)
        marked = '","'.join(map(_NUL.get, values, values))
    except TypeError:  # another type among them (or unhashable)
        return values
    if '"' in flat or "\\" in flat or "\x00" in flat:
        return values
    return ('{"' + marked + '"}').replace('"\x00"', "NULL")


def int_array(values: list[Any]) -> Any:
    """``values`` as the text of a PostgreSQL array when every one is an ``int`` (not a
    ``bool``: psycopg dumps those as booleans); else ``values`` itself."""
    if set(map(type, values)) != _INT:  # (also: no values)
        return values
    return "{" + ",".join(map(str, values)) + "}"


class Float8Array(bytes):
    """A ``float8[]`` in PostgreSQL's binary form, bound as is on a connection given
    :func:`register_float8_arrays`."""

    __slots__ = ()


def register_float8_arrays(connection: Any) -> None:
    """Let psycopg ``connection`` bind :class:`Float8Array` (each PostgreSQL connection of an
    engine, when it is made: psycopg is imported only where PostgreSQL is used)."""
    connection.adapters.register_dumper(Float8Array, _float8_dumper())


@cache
def _float8_dumper() -> type:
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class Float8ArrayDumper(Dumper):
        format = Format.BINARY
        oid = _FLOAT8_ARRAY_OID

        def dump(self, obj: Any) -> Any:
            return obj

    return Float8ArrayDumper


def float_array(values: list[Any]) -> Any:
    """``values`` as a :class:`Float8Array` when every one is a ``float``; else ``values``."""
    if set(map(type, values)) != _FLOAT:  # (also: no values)
        return values
    count = len(values)
    return Float8Array(_HEAD(1, 0, _FLOAT8_OID, count, 1) + b"".join(map(_DOUBLE, repeat(8, count), values)))
