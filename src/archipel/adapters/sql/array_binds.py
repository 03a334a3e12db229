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

PostgreSQL parses that text dearer than it reads a binary array (~0.3 us more
per 36-character id), so ASCII strings all of one length (ids) go in the binary
form of a ``text[]`` instead (:class:`TextArray`): every element's length prefix
is then the same 4 bytes, the separator of one join.

A column of plain floats goes in PostgreSQL's binary form of a ``float8[]``
(:class:`Float8Array`; each engine connection is given both dumpers), each element
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

__all__ = ["Float8Array", "TextArray", "float_array", "int_array", "register_binary_arrays", "text_array"]

_INT = {int}
_NUL = {None: "\x00"}
_FLOAT = {float}
#: PostgreSQL's built-in type oids of ``float8`` and ``float8[]``
_FLOAT8_OID, _FLOAT8_ARRAY_OID = 701, 1022
#: ... of ``text`` and ``text[]`` (what psycopg sends a list of ``str`` as)
_TEXT_OID, _TEXT_ARRAY_OID = 25, 1009
#: a one-dimension array's header: dimensions, has-NULL flag, element type, length, lower bound
_HEAD = struct.Struct(">iiIii").pack
#: an element's length
_LENGTH = struct.Struct(">i").pack
#: an element of a float8 array: its length (8), its value
_DOUBLE = struct.Struct(">id").pack


def text_array(values: list[Any]) -> Any:
    """``values`` as a binary ``text[]`` (:class:`TextArray`) when they are ASCII strings of
    one length without NUL (ids), else as the text of a PostgreSQL array (``str``) when every
    one is a ``str`` without ``"``, ``\\`` or NUL, or None; else ``values`` itself."""
    try:
        flat = "".join(values)  # (a TypeError: a None or another type among them)
    except TypeError:
        return _with_nulls(values)
    if not values or "\x00" in flat:
        return values
    if flat.isascii() and len(set(map(len, values))) == 1:
        # ids: ASCII of one length. PostgreSQL reads a binary text[] for less than the text
        # (~0.3 us an element): each element's length prefix is the same 4 bytes, so they are
        # the separator of one join (ASCII and those bytes: latin-1, one byte per character)
        count, width = len(values), len(values[0])
        prefix = _LENGTH(width).decode("latin-1")
        return TextArray(_HEAD(1, 0, _TEXT_OID, count, 1) + (prefix + prefix.join(values)).encode("latin-1"))
    if '"' in flat or "\\" in flat:
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
    :func:`register_binary_arrays`."""

    __slots__ = ()


class TextArray(bytes):
    """A ``text[]`` in PostgreSQL's binary form, bound as is on a connection given
    :func:`register_binary_arrays`."""

    __slots__ = ()


def register_binary_arrays(connection: Any) -> None:
    """Let psycopg ``connection`` bind :class:`Float8Array` and :class:`TextArray` (each
    PostgreSQL connection of an engine, when it is made: psycopg is imported only where
    PostgreSQL is used)."""
    adapters = connection.adapters
    adapters.register_dumper(Float8Array, _dumper(_FLOAT8_ARRAY_OID))
    adapters.register_dumper(TextArray, _dumper(_TEXT_ARRAY_OID))


@cache
def _dumper(array_oid: int) -> type:
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class BinaryArrayDumper(Dumper):
        format = Format.BINARY
        oid = array_oid

        def dump(self, obj: Any) -> Any:
            return obj

    return BinaryArrayDumper


def float_array(values: list[Any]) -> Any:
    """``values`` as a :class:`Float8Array` when every one is a ``float``; else ``values``."""
    if set(map(type, values)) != _FLOAT:  # (also: no values)
        return values
    count = len(values)
    return Float8Array(_HEAD(1, 0, _FLOAT8_OID, count, 1) + b"".join(map(_DOUBLE, repeat(8, count), values)))
