"""In-memory event store: a compact columnar append-only log with linked indexes.

The log is three interleaved columns, each written once per message: a list
of references to the strings that are also index keys (stream, correlation
and causation ids, id), an array of machine integers (position, the links
below, a code for the message's type/kind/version/domain/priority, the end of
its data) that also holds its time (a UTC time's 10-byte ``datetime`` state:
date, time of day and microseconds, taken in one C call and restored
exactly), and one ``bytearray`` holding every message's data,
msgpack-encoded. Each index — by
stream, by category, by correlation id — maps a key to its *latest* log
entry, with a "previous entry" column linking back. Appending is O(1);
reading a stream or a correlation walks its links. No message costs a Python
object of its own beyond its id and stream strings (an event of two fields
takes ~160 bytes besides them), and nothing per message is a container the
garbage collector has to track.

Reads return the storage form ``{"metadata": ..., "data": ...}``, decoded
fresh each time (no caller holds a reference into the store). Data no store
keeps is refused when appended (:class:`~archipel.errors.ValidationError`),
before anything is written. Appends that arrive with a memory transaction are
checked and applied atomically at its commit.
"""

from __future__ import annotations

import datetime as _dt
import struct
from array import array
from collections.abc import Sequence
from typing import Any, cast

from archipel.adapters.memory._copy import STORE_LOCK, _encode, _refused, decode
from archipel.adapters.settings import SWITCHABLE_SETTINGS, check_settings
from archipel.errors import ExpectedVersionError
from archipel.port.event_store import StoredMessage

__all__ = ["MemoryEventStore", "category_of"]

_NONE = -1
#: the 32-bit columns of an entry in ``_ints``, in this order
_INTS = 6
_CATEGORY, _POSITION, _SHAPE, _PREV_IN_STREAM, _PREV_IN_CATEGORY, _PREV_IN_CORRELATION = range(_INTS)
#: a time's state in an entry: a UTC ``datetime``'s state (what it pickles to, and
#: what ``datetime(state, UTC)`` restores), 10 bytes
_TIME_SIZE = 10
#: an entry of ``_ints``, written by one ``frombytes``: the six 32-bit columns, the end
#: of the message's data in ``_data`` (64 bits), its time's state, 2 bytes of padding
_ENTRY = struct.Struct(f"={_INTS}iq{_TIME_SIZE}s2x")
_pack_entry = _ENTRY.pack
#: 32-bit items per entry, and where its data end and its time are (in bytes)
_STRIDE = _ENTRY.size // 4
_END_AT = _INTS * 4
_TIME_AT = _END_AT + 8
_unpack_end = struct.Struct("=q").unpack_from
_unpack_time = struct.Struct(f"={_TIME_SIZE}s").unpack_from
#: the time state of a message whose time is not a UTC instant (kept aside in
#: ``_odd_times``): year 0, which no ``datetime`` state holds
_ODD_TIME = bytes(_TIME_SIZE)
#: the string columns of an entry in ``_strings``, in this order
_STRINGS = 4
_REST, _CORRELATION, _CAUSATION, _ID = range(_STRINGS)
_UTC = _dt.UTC
_DATETIME = _dt.datetime
#: ``datetime(state, tzinfo)``: a datetime from its pickled state (typeshed knows only the fields form)
_restore: Any = _dt.datetime
_ZERO = _dt.timedelta(0)

#: (type, kind, version, domain, priority): shared by every message of the same kind
_Shape = tuple[str | None, str, int, str | None, int]
#: a message :meth:`MemoryEventStore._check` passed: (envelope, id, category, the rest of
#: its stream's name or None, its data encoded)
_Checked = tuple[Any, str, str, str | None, bytes]
#: :meth:`MemoryEventStore._check` scans a batch's earlier messages up to this many, then
#: counts them in a dict and a set
_SCANNED = 8


def category_of(stream: str) -> str:
    """``"shop::order-42"`` -> ``"shop::order"``; command streams keep ``:command``."""
    return stream.split("-", 1)[0]


class MemoryEventStore:
    """``provider = "memory"`` for ``[event_store]``."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        check_settings("event_store", "memory", self.config, SWITCHABLE_SETTINGS)
        self._reset()

    def _reset(self) -> None:
        # columns: entry i of each describes log entry i (global position i + 1)
        # (a log of 2**31 entries would need far more memory than a machine has: 32 bits do)
        # the string columns, interleaved (one ``extend`` an entry): entry i's at
        # ``_strings[i * _STRINGS + _REST ...]``: the rest of its stream's name after
        # the category and its first "-" (None when it has none: the key of
        # ``_streams``; a stream is its category, a code of ``_categories``, and the
        # rest), its correlation id, causation id and id. Readers bound the log by
        # ``len(_strings)``: written last, an entry is whole once it is counted
        self._strings: list[str | None] = []
        # the machine-integer columns, interleaved so that an entry is written by one
        # ``frombytes``: entry i's 32-bit ones at ``_ints[i * _STRIDE + _CATEGORY ...]``
        # (category code, position, shape code, previous in stream / category /
        # correlation), then (``_ENTRY``) the end of its data in ``_data`` and its time
        self._ints = array("i")
        self._data = bytearray()
        # rare values, by log index
        self._odd_times: dict[int, Any] = {}
        self._headers: dict[int, dict[str, Any]] = {}
        self._extensions: dict[int, dict[str, Any]] = {}
        self._shapes: list[_Shape] = []
        self._shape_codes: dict[_Shape, int] = {}
        self._categories: list[str] = []
        self._category_codes: dict[str, int] = {}
        # key -> latest log index; streams by category, then by the rest of their name
        # (a command stream's rest is its message id: the same string, stored once)
        self._streams: dict[str, dict[str | None, int]] = {}
        self._category_last: dict[str, int] = {}
        self._correlation_last: dict[str, int] = {}
        self._ids: set[str] = set()

    # -- writing --------------------------------------------------------
    def append(self, messages: Sequence[Any], transaction: Any = None) -> int:
        appends = getattr(transaction, "appends", None)
        if appends is not None:
            # a memory transaction: checked and applied atomically at its commit
            appends.append((self, messages))
            return len(messages)
        with STORE_LOCK:
            fresh = self._check(messages)
            self._apply(fresh)
        return len(fresh)

    def _last_in(self, stream: str) -> int | None:
        """The log index of the latest message of ``stream``, or None."""
        category, sep, rest = stream.partition("-")
        streams = self._streams.get(category)
        return None if streams is None else streams.get(rest if sep else None)

    def _stream_of(self, index: int) -> str:
        category = self._categories[self._ints[index * _STRIDE + _CATEGORY]]
        rest = self._strings[index * _STRINGS + _REST]
        return category if rest is None else f"{category}-{rest}"

    def _next_position(self, stream: str) -> int:
        last = self._last_in(stream)
        return 0 if last is None else self._ints[last * _STRIDE + _POSITION] + 1

    def _check(self, messages: Sequence[Any]) -> list[_Checked]:
        """The messages not stored yet, each with what :meth:`_apply` writes of it (its
        envelope, id, category, the rest of its stream's name and its encoded data);
        raises what would fail.

        Nothing is written: a caller applies the result with :meth:`_apply`.
        """
        fresh: list[_Checked] = []
        # stream -> messages of this batch in it so far, and the ids seen: a stream's next
        # position is looked up only for a message that claims one (a command's stream never
        # is). Until _SCANNED messages the batch's earlier ones are scanned instead (no dict,
        # no set, no hash of a stream's name: a command and its events)
        in_batch: dict[str, int] | None = None
        seen: set[str]  # with in_batch
        ids = self._ids
        all_streams = self._streams
        for message in messages:
            meta = message._metadata
            message_id = meta.id
            if message_id in ids:
                continue
            stream = meta.stream
            earlier = 0
            if fresh:
                if in_batch is None:
                    duplicate = False
                    for entry in fresh:
                        if entry[1] == message_id:
                            duplicate = True
                            break
                        if entry[0].stream == stream:
                            earlier += 1
                    if duplicate:
                        continue  # a second copy of a message of this batch
                    if len(fresh) == _SCANNED:  # a long batch: counted from now on
                        in_batch = {}
                        seen = set()
                        for entry in fresh:
                            in_batch[entry[0].stream] = in_batch.get(entry[0].stream, 0) + 1
                            seen.add(entry[1])
                else:
                    if message_id in seen:
                        continue
                    earlier = in_batch.get(stream, 0)
            category, sep, rest = stream.partition("-")
            key = rest if sep else None
            position = meta.position
            if position is not None:
                streams = all_streams.get(category)
                last = None if streams is None else streams.get(key)
                expected = (0 if last is None else self._ints[last * _STRIDE + _POSITION] + 1) + earlier
                if position != expected:
                    raise ExpectedVersionError(
                        f"stream {stream!r} cannot take position {position}: its next position is "
                        f"{expected} (another writer got there first); reload and retry",
                        stream=stream,
                        expected=position,
                        actual=expected - 1,
                    )
            if in_batch is not None:
                in_batch[stream] = earlier + 1
                seen.add(message_id)
            try:
                fresh.append((meta, message_id, category, key, _encode(message.to_dict())))
            except (OverflowError, UnicodeEncodeError, TypeError) as exc:
                raise _refused(exc) from None  # data no store keeps (``_copy.encode``)
        return fresh

    def _apply(self, checked: list[_Checked]) -> None:
        # the hot path of every write: columns and indexes bound once per call
        all_streams = self._streams
        category_last = self._category_last
        correlation_last = self._correlation_last
        category_codes = self._category_codes
        shape_codes = self._shape_codes
        strings = self._strings
        ints = self._ints
        data = self._data
        id_set = self._ids
        index = len(strings) // _STRINGS
        for meta, message_id, category, key, encoded in checked:
            values = meta.__dict__
            streams = all_streams.get(category)
            if streams is None:
                streams = all_streams[category] = {}
                category_codes[category] = len(self._categories)
                self._categories.append(category)
            previous = streams.get(key)
            if previous is not None:
                key = strings[previous * _STRINGS + _REST]  # the one string of this stream's name
            elif key is not None and key == message_id:
                key = message_id  # a command's own stream
            position = meta.position
            if position is None:
                position = 0 if previous is None else ints[previous * _STRIDE + _POSITION] + 1
                meta.position = position  # (``values`` read first: a stored envelope is decoded)
            meta.global_position = index + 1  # a field of every fresh envelope: stored at its index
            correlation_id = meta.correlation_id
            time = meta.time
            # the common case: a UTC datetime's state, what it pickles to (one C call)
            if time.__class__ is _DATETIME and time.tzinfo is _UTC:
                state: Any = time.__reduce__()[1][0]  # (bytes, tzinfo)
            else:
                state = self._odd_time(index, time)
            if "_headers" in values and values["_headers"]:
                self._headers[index] = dict(values["_headers"])
            if "_extensions" in values and values["_extensions"]:
                self._extensions[index] = dict(values["_extensions"])
            shape = (meta.type, meta.kind, meta.version, values.get("domain"), meta.priority)
            code = shape_codes.get(shape)
            if code is None:
                code = shape_codes[shape] = len(self._shapes)
                self._shapes.append(shape)
            data += encoded
            ints.frombytes(
                _pack_entry(
                    category_codes[category],
                    position,
                    code,
                    _NONE if previous is None else previous,
                    category_last.get(category, _NONE),
                    correlation_last.get(correlation_id, _NONE) if correlation_id else _NONE,
                    len(data),
                    state,
                )
            )
            # after the other columns: readers bound the log by len(self._strings)
            strings += (key, correlation_id, meta.causation_id, message_id)
            # then the indexes: readers who follow them find whole entries
            streams[key] = index
            category_last[category] = index
            if correlation_id:
                correlation_last[correlation_id] = index
            id_set.add(message_id)
            index += 1

    def _odd_time(self, index: int, time: Any) -> bytes:
        """The time state of a message whose time is no datetime in ``UTC`` (the rare case)."""
        if type(time) is _dt.datetime and time.utcoffset() == _ZERO:
            return cast(bytes, time.astimezone(_UTC).__reduce__()[1][0])
        if time is not None:
            self._odd_times[index] = time
        return _ODD_TIME

    # -- reading --------------------------------------------------------
    def _time_of(self, index: int) -> Any:
        state = _unpack_time(self._ints, index * _STRIDE * 4 + _TIME_AT)[0]
        if state == _ODD_TIME:
            return self._odd_times.get(index)
        return _restore(state, _UTC)

    def _stored(self, index: int) -> StoredMessage:
        at = index * _STRIDE
        strings = self._strings
        s_at = index * _STRINGS
        type_, kind, version, domain, priority = self._shapes[self._ints[at + _SHAPE]]
        time = self._time_of(index)
        headers = self._headers.get(index)
        metadata = {
            "id": strings[s_at + _ID],
            "type": type_,
            "kind": kind,
            "stream": self._stream_of(index),
            "time": time.isoformat() if time is not None else None,
            "version": version,
            "position": self._ints[at + _POSITION],
            "global_position": index + 1,
            "correlation_id": strings[s_at + _CORRELATION],
            "causation_id": strings[s_at + _CAUSATION],
            "headers": dict(headers) if headers else {},
            "domain": domain,
            "priority": priority,
        }
        extensions = self._extensions.get(index)
        if extensions:
            metadata["extensions"] = dict(extensions)
        ints = self._ints
        start = _unpack_end(ints, (at - _STRIDE) * 4 + _END_AT)[0] if index else 0
        end = _unpack_end(ints, at * 4 + _END_AT)[0]
        return {"metadata": metadata, "data": decode(self._data[start:end])}

    def _walk(self, last: int | None, link: int, stop_below: int = _NONE) -> list[int]:
        """Log indexes from ``last`` back along the ``link`` column, returned oldest first."""
        found = []
        ints = self._ints
        index = _NONE if last is None else last
        while index != _NONE and index > stop_below:
            found.append(index)
            index = ints[index * _STRIDE + link]
        found.reverse()
        return found

    def read_stream(
        self, stream: str, from_position: int = 0, to_position: int | None = None
    ) -> list[StoredMessage]:
        # positions fall along the links: stop walking below ``from_position``
        ints = self._ints
        found = []
        last = self._last_in(stream)
        index = _NONE if last is None else last
        while index != _NONE:
            at = index * _STRIDE
            position = ints[at + _POSITION]
            if position < from_position:
                break
            if to_position is None or position <= to_position:
                found.append(index)
            index = ints[at + _PREV_IN_STREAM]
        found.reverse()
        return [self._stored(i) for i in found]

    def read_last(self, stream: str) -> StoredMessage | None:
        """The latest message of ``stream`` (its snapshot, for a snapshot stream), or None."""
        index = self._last_in(stream)
        return None if index is None else self._stored(index)

    def at_version(self, stream: str, version: int) -> list[StoredMessage]:
        """The messages of ``stream`` up to position ``version`` (inclusive)."""
        return self.read_stream(stream, 0, version)

    def as_of(self, stream: str, when: _dt.datetime) -> list[StoredMessage]:
        """The messages of ``stream`` written at or before ``when`` (naive means UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.UTC)
        indexes = self._walk(self._last_in(stream), _PREV_IN_STREAM)
        found = []
        for index in indexes:
            time = self._time_of(index)
            if time is not None and time <= when:
                found.append(self._stored(index))
        return found

    def read_category(self, category: str, after_global: int = 0, limit: int = 1000) -> list[StoredMessage]:
        # global position = index + 1, so "after_global" means index >= after_global
        indexes = self._walk(
            self._category_last.get(category), _PREV_IN_CATEGORY, stop_below=after_global - 1
        )
        return [self._stored(i) for i in indexes[:limit]]

    def read_all(self, after_global: int = 0, limit: int = 1000) -> list[StoredMessage]:
        end = min(len(self._strings) // _STRINGS, after_global + limit)
        return [self._stored(i) for i in range(after_global, end)]

    def read_correlated(self, correlation_id: str) -> list[StoredMessage]:
        indexes = self._walk(self._correlation_last.get(correlation_id), _PREV_IN_CORRELATION)
        return [self._stored(i) for i in indexes]

    def last_position(self, stream: str) -> int:
        return self._next_position(stream) - 1

    def count(self) -> int:
        return len(self._strings) // _STRINGS

    def head(self, category: str | None = None) -> int:
        """The global position of the latest message (of ``category``), 0 when none."""
        if category is None:
            return len(self._strings) // _STRINGS
        last = self._category_last.get(category)
        return 0 if last is None else last + 1

    def truncate(self) -> None:
        with STORE_LOCK:
            self._reset()

    def close(self) -> None:
        """Nothing to release."""
