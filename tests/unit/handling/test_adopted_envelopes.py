"""Trusted stored envelopes: ``Metadata.adopt`` and the bulk reader's batches.

A replay takes over the dicts it decoded instead of copying them, and the
bulk reader hands each envelope over as stored JSON, decoded when first
read; either way the envelope must read exactly as
:meth:`Metadata.from_dict` of the same stored form, a stored time that is
not ISO 8601 text reads as stored, and one that cannot be read is a
DeserializationError naming the message.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archipel.adapters.sql.bulk import _decode
from archipel.core.message import Metadata
from archipel.errors import DeserializationError

texts = st.none() | st.text(max_size=12)
times = st.none() | st.datetimes(timezones=st.none() | st.timezones()).map(lambda t: t.isoformat())
envelopes = st.fixed_dictionaries(
    {"id": texts, "type": texts, "kind": st.sampled_from(["EVENT", "COMMAND"]), "stream": texts,
     "time": times, "version": st.integers(1, 5), "position": st.none() | st.integers(0, 99),
     "global_position": st.none() | st.integers(1, 99), "correlation_id": texts, "causation_id": texts,
     "domain": texts, "priority": st.integers(-5, 5), "asynchronous": st.booleans()},
    optional={"headers": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
              "extensions": st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)},
)


def _same(a: Metadata, b: Metadata) -> None:
    assert a.to_dict() == b.to_dict()
    assert a.time == b.time and type(a.time) is type(b.time)
    assert a.headers == b.headers and a.extensions == b.extensions


@given(envelopes)
def test_an_adopted_envelope_reads_as_from_dict_gives_it(stored: dict[str, Any]) -> None:
    expected = Metadata.from_dict(json.loads(json.dumps(stored)))
    _same(Metadata.adopt(json.loads(json.dumps(stored))), expected)


def _lazy(stored: dict[str, Any] | Any, global_position: int = 7, position: int = 3) -> Metadata:
    """The envelope a bulk reader hands over: stored JSON, decoded when read."""
    text = json.dumps([[position, "T", "m-42", "s", stored, {"a": 1}, global_position]])
    ((_, type_, message_id, stream, raw, data, _),) = _decode(text)
    assert (type_, message_id, stream, data) == ("T", "m-42", "s", {"a": 1})
    return Metadata.adopt({"type": type_, "id": message_id, "stream": stream, "_stored": raw,
                           "global_position": global_position, "position": position})


@given(envelopes, st.dictionaries(st.sampled_from(["x", "legacy", "trace"]), st.integers(), max_size=2))
def test_a_stored_envelope_decoded_when_read_is_the_one_from_dict_gives(
    stored: dict[str, Any], extra: dict[str, Any]
) -> None:
    # unknown keys are dropped, times parsed, the positions those of the columns
    expected = Metadata.from_dict({**stored, "global_position": 7, "position": 3})
    lazy = _lazy({**stored, **extra})
    _same(lazy, expected)
    assert type(lazy) is Metadata  # once read, an ordinary envelope
    assert not set(vars(lazy)) - set(vars(expected))


@given(envelopes)
def test_any_first_read_decodes_the_envelope(stored: dict[str, Any]) -> None:
    expected = Metadata.from_dict({**stored, "global_position": 7, "position": 3})
    for read in (lambda m: m.id, lambda m: m.headers, lambda m: m.to_dict(), lambda m: vars(m).get("kind"),
                 lambda m: m.copy().to_dict()):
        assert read(_lazy(stored)) == read(expected)


def test_a_stored_time_that_is_no_iso_text_reads_as_stored() -> None:
    assert _lazy({"id": "b", "time": 1700000000, "legacy": 2}).time == 1700000000
    now = dt.datetime.now(dt.UTC)
    assert _lazy({"id": "a", "time": now.isoformat()}).time == now


@pytest.mark.parametrize("stored", [{"id": "x", "time": "yesterday"}, [1, 2], "text"])
def test_an_envelope_that_cannot_be_read_is_a_deserialization_error_naming_the_message(stored: Any) -> None:
    lazy = _lazy(stored)
    with pytest.raises(DeserializationError) as caught:
        lazy.time  # noqa: B018 - the read decodes
    assert "m-42" in str(caught.value)


def test_a_batch_that_is_no_json_is_refused_when_read() -> None:
    with pytest.raises(msgspec.DecodeError):
        _decode('[[1, 0, "T", "id", "s", {"id": tru}, {}]]')


def test_the_framework_writes_a_stored_envelope_after_decoding_it() -> None:
    """A command or event whose envelope is still stored JSON (a replay's), processed or
    raised: the framework reads the envelope before it writes a field, so the decode on the
    first read cannot overwrite what was written (the fields are set as attributes, which
    alone would not decode it)."""
    from archipel import BaseAggregate, BaseCommand, BaseEvent, Domain, handle
    from archipel.fields import Identifier, String
    from tests.unit._support import start

    domain = Domain(name="Lazy", config={"command_processing": "sync", "event_processing": "sync"})

    @domain.aggregate
    class Account(BaseAggregate):
        owner = String(max_length=50)

    @domain.event(part_of=Account)
    class Opened(BaseEvent):
        account_id = Identifier()

    @domain.command(part_of=Account)
    class Open(BaseCommand):
        owner = String(max_length=50)

    raised: list[Any] = []

    @domain.command_handler(part_of=Account)
    class Accounts:
        @handle(Open)
        def open(self, command: Open) -> str:
            account = Account(owner=command.owner)
            event = Opened(account_id=account.id)
            event._metadata = _stored({"id": "old-event", "type": "Old.v1", "kind": "EVENT", "stream": "old-1"})
            account.raise_(event)
            raised.append(event)
            domain.repository_for(Account).add(account)
            return str(account.id)

    def _stored(stored: dict[str, Any]) -> Metadata:
        """A fresh message's envelope, still its stored JSON (no positions yet)."""
        lazy = Metadata.adopt({"_stored": msgspec.Raw(json.dumps(stored).encode()), "global_position": None,
                               "position": None})
        assert type(lazy) is not Metadata
        return lazy

    start(domain)
    command = Open(owner="ann")
    command._metadata = _stored({"id": None, "type": "Lazy.Open.v1", "kind": "COMMAND", "stream": None})
    with domain.domain_context():
        account_id = domain.process(command)
        meta = command._metadata
        assert type(meta) is Metadata  # decoded
        assert meta.id and meta.stream == f"lazy::account:command-{meta.id}" and meta.time is not None
        assert meta.correlation_id == meta.id and meta.global_position == 1
        (event,) = raised
        emeta = event._metadata
        assert type(emeta) is Metadata
        assert emeta.id not in (None, "old-event") and emeta.stream == f"lazy::account-{account_id}"
        assert emeta.type == "Lazy.Opened.v1" and emeta.time is not None and emeta.position == 0
        assert (emeta.causation_id, emeta.correlation_id) == (meta.id, meta.id)
        assert emeta.global_position == 2
        stored = domain.providers.event_store.read_stream(f"lazy::account-{account_id}")
        assert [m["metadata"]["id"] for m in stored] == [emeta.id]
