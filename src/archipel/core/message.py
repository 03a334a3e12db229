"""Message envelope: the metadata every command and event carries.

Names a user sees: ``type`` is ``<Domain>.<Name>.v<N>``; ``stream`` is
``<domain_snake>::<aggregate_snake>-<id>`` for events (commands use
``<category>:command-<id>``); ``correlation_id`` ties together everything
caused by one original request; ``causation_id`` is the id of the message
whose handling created this one.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any, ClassVar, TypedDict

import msgspec

from archipel.core.envelope_views import DomainMeta, EnvelopeView, Headers, StoreView
from archipel.core.model import BaseModel
from archipel.errors import DeserializationError
from archipel.fields.identity import new_time_ordered_identity
from archipel.utils.clock import domain_now

__all__ = ["Metadata", "BaseMessage", "StoredEnvelope", "iso_text", "new_message_id", "utcnow"]

#: A new unique message id: a version-7 UUID as text (time-ordered), i.e.
#: :func:`~archipel.fields.identity.new_time_ordered_identity` itself (one call per
#: message, not two: this is on every message's path). Messages carry their time
#: anyway, and ids that grow with it append to the end of the event store's indexes
#: (message id, correlation id) instead of landing on a random page of each: fewer
#: pages written per command (``bench/README.md``). Aggregate and entity identities
#: stay random (``identity_strategy``, :func:`~archipel.fields.identity.new_identity`).
new_message_id: Callable[[], str] = new_time_ordered_identity


def utcnow() -> _dt.datetime:
    """The current time, timezone-aware UTC: the active domain's clock (``domain.clock``)."""
    return domain_now()


_now = _dt.datetime.now
_UTC = _dt.UTC


_FIELDS = (
    "id",
    "type",
    "kind",
    "stream",
    "time",
    "version",
    "position",
    "global_position",
    "correlation_id",
    "causation_id",
    "headers",
    "domain",
    "priority",
    "asynchronous",
    "extensions",
)

_FIELD_SET = frozenset(_FIELDS)

_fromisoformat = _dt.datetime.fromisoformat
#: RFC 3339 JSON of a datetime (msgspec): for a UTC one, ``isoformat()``'s text with ``Z``
#: for ``+00:00`` (six fraction digits, none when zero), at a fifth of its cost (which
#: formats through ``PyUnicode_FromFormat`` and the tzinfo's ``utcoffset``): see
#: :func:`iso_text`; tests/unit/test_iso_text.py holds the two texts equal
_rfc3339 = msgspec.json.Encoder().encode


def iso_text(time: _dt.datetime) -> str:
    """``time.isoformat()`` (the envelope's stored ``time``), taken faster for UTC."""
    if time.tzinfo is _UTC and time.__class__ is _dt.datetime:
        return _rfc3339(time)[1:-2].decode() + "+00:00"
    return time.isoformat()


class StoredEnvelope(TypedDict, total=False):
    """The stored form of :class:`Metadata` (``to_dict()``) as a decoder's target type.

    A JSON decoder given this type (msgspec) keeps only the envelope's
    fields and parses ``time`` into a datetime: its output is what
    :meth:`Metadata.adopt` takes.
    """

    id: Any
    type: Any
    kind: Any
    stream: Any
    time: _dt.datetime | None
    version: Any
    position: Any
    global_position: Any
    correlation_id: Any
    causation_id: Any
    headers: Any
    domain: Any
    priority: Any
    asynchronous: Any
    extensions: Any


class Metadata:
    """The envelope of one message. Mutable only while the framework builds it.

    Unset attributes read their class-level default, so creating an
    envelope costs one allocation (this is on every message's path).
    """

    id: str | None = None
    type: str | None = None
    kind: str = "EVENT"
    stream: str | None = None
    time: _dt.datetime | None = None
    #: schema version of the message type (the ``v<N>`` of its type string)
    version: int = 1
    #: position in its stream (events), set when raised or stored
    position: int | None = None
    #: position in the whole store, set when stored
    global_position: int | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    priority: int = 0
    asynchronous: bool = False

    def __init__(self, **values: Any) -> None:
        for name, value in values.items():
            if name not in _FIELDS:
                raise TypeError(f"Metadata has no field {name!r}")
            setattr(self, name, value)

    @property
    def headers(self) -> Headers:
        """Free-form headers (created on first use): a dict, also read as Protean's
        ``MessageHeaders`` (``headers.time``, ``headers.idempotency_key``; see
        :class:`~archipel.core.envelope_views.Headers`)."""
        found = self.__dict__.get("_headers")
        if found.__class__ is not Headers:
            found = self.__dict__["_headers"] = Headers(found or (), self)
        return found  # type: ignore[no-any-return]

    @headers.setter
    def headers(self, value: dict[str, Any] | None) -> None:
        self.__dict__["_headers"] = dict(value) if value else {}

    @property
    def domain(self) -> DomainMeta:
        """The domain's name (a ``str``, empty until the message is raised or
        processed), also read as Protean's ``DomainMeta`` (``domain.kind``,
        ``domain.correlation_id``, ...; see :class:`~archipel.core.envelope_views.DomainMeta`)."""
        return DomainMeta(self.__dict__.get("domain"), self)

    @domain.setter
    def domain(self, value: str | None) -> None:
        self.__dict__["domain"] = None if value is None else str(value)

    @property
    def event_store(self) -> StoreView:
        """Protean's ``event_store`` view: ``position`` and ``global_position``."""
        return StoreView(self.position, self.global_position)

    @property
    def envelope(self) -> EnvelopeView:
        """Protean's ``envelope`` view: ``specversion``, ``checksum``."""
        return EnvelopeView()

    @property
    def extensions(self) -> dict[str, Any]:
        """Entries stamped by the domain's message enrichers (created on first use)."""
        found = self.__dict__.get("_extensions")
        if found is None:
            found = self.__dict__["_extensions"] = {}
        return found  # type: ignore[no-any-return]

    @extensions.setter
    def extensions(self, value: dict[str, Any] | None) -> None:
        self.__dict__["_extensions"] = dict(value) if value else {}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (``time`` as ISO 8601; ``extensions`` only when there are some)."""
        data = self._to_dict()
        extensions = self.__dict__.get("_extensions")
        if extensions:
            data["extensions"] = dict(extensions)
        return data

    def _to_dict(self) -> dict[str, Any]:
        time = self.time
        return {
            "id": self.id,
            "type": self.type,
            "kind": self.kind,
            "stream": self.stream,
            "time": None if time is None else (
                _rfc3339(time)[1:-2].decode() + "+00:00"  # iso_text(time), inline
                if time.tzinfo is _UTC and time.__class__ is _dt.datetime
                else time.isoformat()
            ),
            "version": self.version,
            "position": self.position,
            "global_position": self.global_position,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "headers": dict(self.__dict__.get("_headers") or {}),
            "domain": self.__dict__.get("domain"),
            "priority": self.priority,
            "asynchronous": self.asynchronous,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metadata:
        meta: Metadata = _new_object(cls)
        values = meta.__dict__
        if data.keys() <= _FIELD_SET:
            values.update(data)  # the common case: exactly what to_dict() wrote
        else:
            values.update({name: data[name] for name in data.keys() & _FIELD_SET})
        headers = values.pop("headers", None)
        if headers:
            values["_headers"] = dict(headers)
        extensions = values.pop("extensions", None)
        if extensions:
            values["_extensions"] = dict(extensions)
        time = values.get("time")
        if isinstance(time, str):
            values["time"] = _dt.datetime.fromisoformat(time)
        return meta

    @classmethod
    def adopt(cls, values: dict[str, Any]) -> Metadata:
        """The envelope of trusted stored ``values``, which it takes over (no copy, no checks).

        For replays of many stored messages: ``values`` must hold envelope
        fields only (as :meth:`to_dict` wrote them, e.g. decoded as
        :class:`StoredEnvelope`; ``time`` a datetime or ISO 8601 text) and
        must not be used by the caller afterwards. Anything else goes
        through :meth:`from_dict`, which copies and filters.

        ``values`` may instead hold ``_stored``, the envelope's stored JSON
        (bytes-like: ``msgspec.Raw``), with ``global_position`` and
        ``position``: the envelope is then decoded when anything of it is
        first read (a replayed event's envelope is rarely read), and reads
        exactly as :meth:`from_dict` of the stored form with those two
        positions; stored JSON that is no envelope raises
        :class:`~archipel.errors.DeserializationError` then.
        """
        if "_stored" in values:
            lazy: Metadata = _new_object(_StoredMetadata)
            lazy.__dict__ = values
            return lazy
        meta: Metadata = _new_object(cls)
        if "headers" in values:
            headers = values.pop("headers")
            if headers:
                values["_headers"] = headers
        if "extensions" in values:
            extensions = values.pop("extensions")
            if extensions:
                values["_extensions"] = extensions
        time = values.get("time")
        if time.__class__ is str:
            values["time"] = _fromisoformat(time)
        meta.__dict__ = values
        return meta

    def copy(self) -> Metadata:
        """An independent copy (headers copied too)."""
        other = Metadata.__new__(Metadata)
        other.__dict__.update(self.__dict__)
        if "_headers" in other.__dict__:
            other.__dict__["_headers"] = dict(other.__dict__["_headers"])
        if "_extensions" in other.__dict__:
            other.__dict__["_extensions"] = dict(other.__dict__["_extensions"])
        return other

    def __repr__(self) -> str:
        return f"Metadata(id={self.id!r}, type={self.type!r}, stream={self.stream!r})"


_new_object = object.__new__
_decode_envelope: Any = msgspec.json.Decoder(StoredEnvelope).decode
_decode_any = msgspec.json.decode


class _StoredMetadata(Metadata):
    """A :class:`Metadata` adopted with its stored JSON (``_stored``): decoded on the
    first read of anything, after which it is an ordinary :class:`Metadata`."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        values = object.__getattribute__(self, "__dict__")
        if "_stored" in values:
            _complete(self, values)
        return object.__getattribute__(self, name)


def _complete(meta: Metadata, values: dict[str, Any]) -> None:
    """Decode a lazily adopted envelope into ``values`` (its ``__dict__``); it becomes a Metadata."""
    stored = values["_stored"]
    try:
        try:
            decoded: dict[str, Any] = _decode_envelope(stored)
        except msgspec.ValidationError:
            # JSON, but no ISO 8601 time (or no object): as stored, unknown keys dropped
            found = _decode_any(stored)
            if not isinstance(found, dict):
                raise ValueError("the stored envelope is not a JSON object") from None
            decoded = {name: found[name] for name in found.keys() & _FIELD_SET}
        decoded["global_position"] = values.get("global_position")
        decoded["position"] = values.get("position")
        if "_fqn" in values:
            decoded["_fqn"] = values["_fqn"]
        adopted = Metadata.adopt(decoded)
    except (msgspec.DecodeError, ValueError, TypeError) as exc:
        raise DeserializationError(
            str(values.get("id")), f"its stored envelope cannot be read: {exc}",
            {"stream": values.get("stream"), "global_position": values.get("global_position")},
        ) from exc
    values.clear()
    values.update(adopted.__dict__)
    object.__setattr__(meta, "__class__", Metadata)


#: a new envelope's values, per message class: every field the framework fills in as it
#: builds one, in one order for every message (``priority`` and ``asynchronous`` stay unset
#: until given: the unit of work tells an explicit ``priority`` from an inherited one), and
#: ``_fqn``, the class's ``module.QualName`` (``_metadata.domain.fqn``; never stored).
#: CPython 3.11 specialises an attribute load on an instance dict by the key's index, so
#: envelopes whose keys sit at the same indexes are read at specialised speed and class
#: defaults are never looked up.
_FRESH: dict[type, dict[str, Any]] = {}


def _fresh_metadata(cls: type) -> Metadata:
    meta: Metadata = _new_object(Metadata)
    fresh = _FRESH.get(cls)
    if fresh is None:
        fresh = _FRESH.setdefault(cls, {
            "kind": getattr(cls, "_kind", "EVENT"), "id": None, "type": None, "stream": None,
            "time": None, "version": 1, "position": None, "global_position": None,
            "correlation_id": None, "causation_id": None, "domain": None,
            "_fqn": f"{cls.__module__}.{cls.__qualname__}",
        })
    meta.__dict__ = fresh.copy()
    return meta


def stamp_class_type(cls: type, type_string: str) -> None:
    """New messages of ``cls`` carry ``type_string`` from construction on
    (``_metadata.headers.type``, as in Protean; raising or processing sets it again)."""
    _fresh_metadata(cls)  # the class's template exists from now on (shared with its __init__)
    _FRESH[cls]["type"] = type_string


def class_envelope(meta: Metadata, cls: type) -> Metadata:
    """``meta``, told the class of its message (``_metadata.domain.fqn``); returns it."""
    meta.__dict__["_fqn"] = f"{cls.__module__}.{cls.__qualname__}"
    return meta


def _defined_here(function: Any, qualname: str) -> bool:
    """Whether ``function`` is this module's ``qualname`` (usable while its class is being made)."""
    return getattr(function, "__module__", None) == __name__ and getattr(function, "__qualname__", None) == qualname


class BaseMessage(BaseModel):
    """Common base of commands and events: immutable data plus ``_metadata``."""

    _immutable: ClassVar[bool] = True
    _kind: ClassVar[str] = "EVENT"

    def _after_init(self) -> None:
        # ``_fresh_metadata``, inline: every new command and event comes through here
        # (``_inline_after_init`` writes the same into a generated ``__init__``)
        fresh = _FRESH.get(self.__class__)
        if fresh is None:
            self.__dict__["_metadata"] = _fresh_metadata(self.__class__)
            return
        meta = _new_object(Metadata)
        meta.__dict__ = fresh.copy()
        self.__dict__["_metadata"] = meta

    @classmethod
    def _inline_after_init(cls) -> tuple[list[str], dict[str, Any]] | None:
        if not _defined_here(cls._after_init, "BaseMessage._after_init"):
            return None
        _fresh_metadata(cls)  # the class's fresh envelope exists from now on
        return (
            [
                "_ar_meta = _ar_new_object(_ar_Metadata)",
                "_ar_meta.__dict__ = _ar_fresh.copy()",
                "_ar_values['_metadata'] = _ar_meta",
            ],
            {"_ar_new_object": _new_object, "_ar_Metadata": Metadata, "_ar_fresh": _FRESH[cls]},
        )

    def _after_load(self) -> None:
        self.__dict__["_metadata"] = _fresh_metadata(self.__class__)

    def _accept_extra(self, extra: dict[str, Any], errors: dict[str, list[str]]) -> None:
        # ``_metadata`` may be passed when a message is rebuilt from storage
        meta = extra.pop("_metadata", None)
        if meta is not None:
            object.__setattr__(self, "_pending_metadata", meta)
        super()._accept_extra(extra, errors)

    @property
    def metadata(self) -> Metadata:
        """The message envelope (alias of ``_metadata``)."""
        return self._metadata  # type: ignore[attr-defined, no-any-return]

    @property
    def payload(self) -> dict[str, Any]:
        """The message's data fields, JSON-friendly (a property, as Protean's)."""
        return self.to_dict()

    def to_message(self) -> dict[str, Any]:
        """``{"metadata": {...}, "data": {...}}``: the wire and storage form."""
        return {"metadata": self._metadata.to_dict(), "data": self.to_dict()}  # type: ignore[attr-defined]

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Any:
        """Rebuild from :meth:`to_message` output; unknown data keys are ignored."""
        meta = message.get("metadata")
        if not meta:
            return cls._from_primitive(message.get("data") or {})
        # no _after_load hook: the stored envelope replaces a fresh one
        obj = cls._fill_from_primitive(message.get("data") or {})
        values = obj.__dict__
        envelope = meta if isinstance(meta, Metadata) else Metadata.from_dict(meta)
        if "_fqn" not in envelope.__dict__:
            class_envelope(envelope, cls)
        values["_metadata"] = envelope
        return obj

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return (
            self.__dict__.get("_metadata") is other.__dict__.get("_metadata")  # type: ignore[union-attr]
            or self.to_dict() == other.to_dict()  # type: ignore[union-attr]
        )

    def __hash__(self) -> int:
        return hash((type(self), self._metadata.id))  # type: ignore[attr-defined]
