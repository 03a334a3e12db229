"""The memory event store's check of a batch: a short batch's earlier messages are scanned
(no dict, no set), a long one's counted; both answer as counting every batch did."""

from __future__ import annotations

import datetime as dt
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

from archipel.adapters.memory import event_store as store_module
from archipel.adapters.memory.event_store import MemoryEventStore
from archipel.core.message import Metadata
from archipel.errors import ExpectedVersionError

_NOW = dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)


class Message:
    """What the store reads of a message: its envelope and its data."""

    def __init__(self, message_id: str, stream: str, position: int | None) -> None:
        self._metadata = Metadata(
            id=message_id, stream=stream, position=position, time=_NOW, type="Test.Happened.v1", kind="EVENT"
        )
        self.data = {"id": message_id}

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


def counted_check(store: MemoryEventStore, messages: list[Message]) -> list[tuple[str, str, str | None]]:
    """The check as it was, every batch counted in a dict and a set: (id, category, key) of
    each message to store, or the error it raises."""
    fresh = []
    in_batch: dict[str, int] = {}
    seen: set[str] = set()
    for message in messages:
        meta = message._metadata
        if meta.id in store._ids or meta.id in seen:
            continue
        earlier = in_batch.get(meta.stream, 0)
        category, sep, rest = meta.stream.partition("-")
        key = rest if sep else None
        if meta.position is not None:
            last = store._last_in(meta.stream)
            expected = (0 if last is None else store._ints[last * store_module._STRIDE + store_module._POSITION] + 1)
            expected += earlier
            if meta.position != expected:
                raise ExpectedVersionError("", stream=meta.stream, expected=meta.position, actual=expected - 1)
        in_batch[meta.stream] = earlier + 1
        seen.add(meta.id)
        fresh.append((meta.id, category, key))
    return fresh


def _outcome(check: Any) -> Any:
    try:
        return check()
    except ExpectedVersionError as exc:
        return ("conflict", exc.stream, exc.expected, exc.actual)


messages_of = st.lists(
    st.tuples(
        st.sampled_from(["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11", "m12"]),
        st.sampled_from(["shop::order-1", "shop::order-2", "shop::order:command-m1", "shop::cart"]),
        st.one_of(st.none(), st.integers(min_value=0, max_value=4)),
    ),
    max_size=3 * store_module._SCANNED,
)


@hypothesis.settings(max_examples=400, deadline=None)
@hypothesis.given(stored=messages_of, batch=messages_of)
def test_a_batch_is_checked_as_counting_it_did(stored: list[Any], batch: list[Any]) -> None:
    """Short and long batches, repeated ids and streams, positions right and wrong: the same
    messages to store, the same expected positions, the same conflicts."""
    store = MemoryEventStore()
    for message_id, stream, _ in stored:  # a store with history: positions left to the store
        store.append([Message(f"old-{message_id}", stream, None)])
    messages = [Message(*entry) for entry in batch]
    expected = _outcome(lambda: counted_check(store, messages))
    got = _outcome(lambda: [(meta.id, category, key) for meta, _, category, key, _ in store._check(messages)])
    assert got == expected


@pytest.mark.parametrize("size", [1, 2, store_module._SCANNED, store_module._SCANNED + 1, 3 * store_module._SCANNED])
def test_one_stream_takes_its_positions_in_order_at_any_batch_length(size: int) -> None:
    """A batch of one stream's next positions is stored whole; one position out of order
    refuses it, whether the batch is scanned or counted."""
    store = MemoryEventStore()
    store.append([Message(f"e{i}", "shop::order-7", i) for i in range(size)])
    assert [m["metadata"]["position"] for m in store.read_stream("shop::order-7")] == list(range(size))
    wrong = [Message(f"f{i}", "shop::order-7", size + i) for i in range(size)]
    wrong[-1]._metadata.__dict__["position"] = size + size  # one past where it belongs
    with pytest.raises(ExpectedVersionError):
        store.append(wrong)
    assert len(store.read_stream("shop::order-7")) == size  # nothing of the batch written


@pytest.mark.parametrize("size", [2, store_module._SCANNED + 2])
def test_a_message_twice_in_a_batch_is_stored_once(size: int) -> None:
    store = MemoryEventStore()
    messages = [Message(f"e{i}", f"shop::order-{i % 3}", None) for i in range(size)]
    store.append([*messages, *messages])
    assert sorted(m["metadata"]["id"] for m in store.read_all()) == sorted(f"e{i}" for i in range(size))
