"""The EventStore contract, on every storage provider (``port/event_store.py``)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from archipel.errors import ExpectedVersionError, ValidationError
from tests.adapters._model import define, full_account, message, record
from tests.adapters.conftest import start


@pytest.fixture
def model(make_domain):
    domain = make_domain()
    model = define(domain)
    start(domain)
    with domain.domain_context():
        yield model


def opened(model, stream: str, position: int | None, name: str = "x", **extra):
    return message(model.Opened, stream, position, account_id=stream, name=name, **extra)


def positions(messages):
    return [m["metadata"]["position"] for m in messages]


def test_append_stores_and_reads_back_by_stream(model):
    store = model.domain.event_store
    batch = [
        opened(model, "s-1", 0, "a"),
        opened(model, "s-1", 1, "b"),
        opened(model, "s-2", 0, "c"),
    ]
    assert store.append(batch) == 3
    read = store.read_stream("s-1")
    assert [m["data"]["name"] for m in read] == ["a", "b"]
    assert positions(read) == [0, 1]
    meta = read[0]["metadata"]
    assert meta["id"] == batch[0]._metadata.id
    assert meta["type"] == batch[0]._metadata.type
    assert meta["stream"] == "s-1"
    assert meta["global_position"] >= 1
    assert batch[2]._metadata.global_position > batch[1]._metadata.global_position
    assert positions(store.read_stream("s-1", from_position=1)) == [1]
    assert positions(store.read_stream("s-1", 0, 0)) == [0]
    assert store.last_position("s-1") == 1
    assert store.last_position("nothing") == -1
    assert store.read_stream("nothing") == []


def test_append_is_idempotent_by_message_id(model):
    store = model.domain.event_store
    batch = [opened(model, "s-1", 0), opened(model, "s-1", 1)]
    assert store.append(batch) == 2
    assert store.append(batch) == 0
    assert len(store.read_stream("s-1")) == 2
    assert len(store.read_all()) == 2


def test_a_batch_partly_stored_before_sets_the_positions_of_its_new_messages(model):
    store = model.domain.event_store
    first = opened(model, "s-1", 0, "a")
    store.append([first])
    batch = [first, opened(model, "s-1", 1, "b"), opened(model, "s-2", None, "c")]
    assert store.append(batch) == 2
    stored = {m["metadata"]["id"]: m["metadata"] for m in store.read_all()}
    for sent in batch[1:]:
        meta = sent._metadata
        found = stored[meta.id]
        assert (found["global_position"], found["position"]) == (meta.global_position, meta.position)
    assert batch[0]._metadata.global_position < batch[1]._metadata.global_position
    assert batch[1]._metadata.global_position < batch[2]._metadata.global_position
    assert (batch[1]._metadata.position, batch[2]._metadata.position) == (1, 0)


def test_a_taken_position_is_an_expected_version_error(model):
    store = model.domain.event_store
    store.append([opened(model, "s-1", 0)])
    with pytest.raises(ExpectedVersionError) as caught:
        store.append([opened(model, "s-2", 0), opened(model, "s-1", 0)])
    assert caught.value.stream == "s-1"
    assert store.read_stream("s-2") == []  # nothing of the batch was stored


def test_messages_without_a_position_get_the_next_one(model):
    store = model.domain.event_store
    store.append([opened(model, "s-1", 0), opened(model, "s-1", 1)])
    batch = [opened(model, "s-1", None), opened(model, "s-1", None), opened(model, "s-new", None)]
    store.append(batch)
    assert [m._metadata.position for m in batch] == [2, 3, 0]
    assert positions(store.read_stream("s-1")) == [0, 1, 2, 3]
    mixed = [opened(model, "s-1", 4), opened(model, "s-1", None)]
    store.append(mixed)
    assert mixed[1]._metadata.position == 5


def test_read_all_and_by_category_after_a_global_position(model):
    store = model.domain.event_store
    store.append([opened(model, "cat-1", 0), opened(model, "dog-1", 0), opened(model, "cat-2", 0)])
    store.append([opened(model, "cat-1", 1)])
    everything = store.read_all()
    assert [m["metadata"]["stream"] for m in everything] == ["cat-1", "dog-1", "cat-2", "cat-1"]
    first = everything[0]["metadata"]["global_position"]
    assert [m["metadata"]["stream"] for m in store.read_all(after_global=first)] == [
        "dog-1",
        "cat-2",
        "cat-1",
    ]
    assert len(store.read_all(limit=2)) == 2
    cats = store.read_category("cat")
    assert [(m["metadata"]["stream"], m["metadata"]["position"]) for m in cats] == [
        ("cat-1", 0),
        ("cat-2", 0),
        ("cat-1", 1),
    ]
    after = cats[1]["metadata"]["global_position"]
    assert [m["metadata"]["stream"] for m in store.read_category("cat", after_global=after)] == [
        "cat-1"
    ]
    assert store.read_category("cat", limit=1)[0]["metadata"]["stream"] == "cat-1"
    # paging by the last position read visits everything once
    seen, cursor = [], 0
    while page := store.read_all(after_global=cursor, limit=1):
        seen.append(page[0]["metadata"]["id"])
        cursor = page[-1]["metadata"]["global_position"]
    assert seen == [m["metadata"]["id"] for m in everything]


def test_read_correlated(model):
    store = model.domain.event_store
    store.append(
        [opened(model, "s-1", 0, correlation_id="c1"), opened(model, "s-2", 0, correlation_id="c2")]
    )
    store.append([opened(model, "s-3", 0, correlation_id="c1")])
    assert [m["metadata"]["stream"] for m in store.read_correlated("c1")] == ["s-1", "s-3"]
    assert store.read_correlated("none") == []


def test_appending_with_the_unit_of_works_transaction_is_atomic(model):
    store = model.domain.event_store
    database = model.domain.providers.database()
    schema = model.schema(model.Account)

    tx = database.begin()
    tx.save(schema, record(model, full_account(model)), -1)
    event = opened(model, "s-1", 0)
    store.append([event], transaction=tx)
    tx.rollback()
    assert store.read_stream("s-1") == []
    assert database.begin().get(schema, "a1") is None

    tx = database.begin()
    tx.save(schema, record(model, full_account(model)), -1)
    store.append([event], transaction=tx)
    tx.commit()
    assert positions(store.read_stream("s-1")) == [0]
    assert event._metadata.global_position is not None


def test_a_failed_commit_of_one_write_and_its_events_keeps_neither(model):
    """One record and its events (a command's or a handler's usual commit): the row, the
    position of the events and a unique value are each checked before anything is kept."""
    store = model.domain.event_store
    database = model.domain.providers.database()
    schema = model.schema(model.Account)
    first = opened(model, "s-1", 0)
    store.append([first])
    tx = database.begin()
    tx.save(schema, record(model, full_account(model, "a1", email="taken@x")), -1)
    tx.commit()

    failures = [
        # the events' position is taken: the new row is not kept
        (ExpectedVersionError, full_account(model, "a2"), opened(model, "s-1", 0)),
        # the row exists already: the events are not kept
        (ExpectedVersionError, full_account(model, "a1"), opened(model, "s-2", 0)),
        # a unique value another row holds: the events are not kept
        (ValidationError, full_account(model, "a3", email="taken@x"), opened(model, "s-3", 0)),
    ]
    for error, account, event in failures:
        tx = database.begin()
        tx.save(schema, record(model, account), -1)
        store.append([event], transaction=tx)
        with pytest.raises(error):
            tx.commit()
        assert [m["metadata"]["id"] for m in store.read_all()] == [first._metadata.id]
    reader = database.begin()
    assert reader.get(schema, "a2") is None and reader.get(schema, "a3") is None
    assert reader.get(schema, "a1")["email"] == "taken@x"


def test_truncate_empties_the_log(model):
    store = model.domain.event_store
    store.append([opened(model, "s-1", 0)])
    store.truncate()
    assert store.read_all() == []
    store.append([opened(model, "s-1", 0)])
    assert len(store.read_stream("s-1")) == 1


def test_stored_messages_rebuild_their_event(model):
    store = model.domain.event_store
    event = opened(model, "s-1", 0, "named")
    store.append([event])
    stored = store.read_stream("s-1")[0]
    rebuilt = model.Opened.from_message(stored)
    assert rebuilt.name == "named"
    assert rebuilt._metadata.id == event._metadata.id
    assert rebuilt._metadata.time == event._metadata.time


def test_at_version_and_as_of_read_a_stream_up_to_a_point(model):
    store = model.domain.event_store
    store.append([opened(model, "s-1", 0), opened(model, "s-1", 1)])
    time.sleep(0.01)
    middle = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    store.append([opened(model, "s-1", 2)])
    assert positions(store.at_version("s-1", 1)) == [0, 1]
    assert positions(store.as_of("s-1", middle)) == [0, 1]
    assert positions(store.as_of("s-1", middle.replace(tzinfo=None))) == [0, 1]  # naive is UTC
    assert store.count() == 3


@pytest.mark.parametrize(
    "stream",
    ["plain", "s-1", "a-b-c", "shop::order-42", "trailing-", "account:command-{id}"],
)
def test_every_shape_of_stream_name_reads_back_as_written(model, stream):
    store = model.domain.event_store
    first = opened(model, "placeholder", 0)
    # a command's own stream ends with its message id
    stream = stream.format(id=first._metadata.id)
    first._metadata.stream = stream
    store.append([first, opened(model, stream, 1), opened(model, stream + "x", 0)])
    read = store.read_stream(stream)
    assert [m["metadata"]["stream"] for m in read] == [stream, stream]
    assert positions(read) == [0, 1]
    assert store.last_position(stream) == 1
    assert store.read_last(stream)["metadata"]["position"] == 1
    category = stream.split("-", 1)[0]
    in_category = {m["metadata"]["stream"] for m in store.read_category(category)}
    assert stream in in_category
    assert {m["metadata"]["stream"] for m in store.read_all()} == {stream, stream + "x"}


def test_a_time_with_another_offset_reads_back_as_the_same_instant(model):
    store = model.domain.event_store
    event = opened(model, "s-1", 0)
    written = dt.datetime(2026, 3, 1, 14, 30, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    event._metadata.time = written
    store.append([event])
    read = store.read_stream("s-1")[0]["metadata"]["time"]
    assert dt.datetime.fromisoformat(read) == written
    assert positions(store.as_of("s-1", written)) == [0]
    assert store.as_of("s-1", written - dt.timedelta(microseconds=1)) == []
