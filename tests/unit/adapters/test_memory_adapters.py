"""The memory adapters: a commit touches only the rows it writes (cost independent of
the store's size), and stored data is isolated from the objects callers hold."""

from __future__ import annotations

import datetime as dt
import statistics
import time

import hypothesis
import pytest
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseEvent
from archipel.fields import Dict, Identifier, Integer, List, String
from tests.unit._support import start


class ScanDetector(dict):
    """A table that counts every full iteration (a commit must never need one)."""

    scans = 0

    def _scanned(self):
        type(self).scans += 1

    def __iter__(self):
        self._scanned()
        return super().__iter__()

    def keys(self):
        self._scanned()
        return super().keys()

    def values(self):
        self._scanned()
        return super().values()

    def items(self):
        self._scanned()
        return super().items()

    def copy(self):
        self._scanned()
        return super().copy()


class ScanDetectorList(list):
    scans = 0

    def __iter__(self):
        type(self).scans += 1
        return super().__iter__()


@pytest.fixture
def store(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Item(BaseAggregate):
        name = String()
        count = Integer(default=0)
        tags = List(content_type=String)
        attributes = Dict()

    @domain.event(part_of=Item)
    class Counted(BaseEvent):
        item_id = Identifier()
        count = Integer()
        tags = List(content_type=String)

    start(domain)
    with domain.domain_context():
        yield domain, Item, Counted


def fill(domain, item_cls, count: int) -> None:
    """Store ``count`` items in one transaction (fast set-up, not under test)."""
    schema = domain.schema_for(item_cls)
    tx = domain.providers.database().begin()
    for number in range(count):
        record = item_cls(id=f"fill-{number}", name=f"item {number}").to_dict()
        record["_event_position"] = -1
        tx.save(schema, record, -1)
    tx.commit()


def one_write(domain, item_cls, counted_cls, number: int) -> None:
    repo = domain.repository_for(item_cls)
    item = item_cls(id=f"new-{number}", name="new")
    item.raise_(counted_cls(item_id=item.id, count=1))
    repo.add(item)
    loaded = repo.get(item.id)
    loaded.count = 2
    loaded.raise_(counted_cls(item_id=item.id, count=2))
    repo.add(loaded)


def test_commits_never_scan_the_stored_rows_or_events(store):
    domain, item_cls, counted_cls = store
    fill(domain, item_cls, 2_000)
    database = domain.providers.database()
    table_name = domain.schema_for(item_cls).table
    database.tables[table_name] = ScanDetector(database.tables[table_name])
    event_store = domain.event_store
    wrapped = []
    for name, value in list(vars(event_store).items()):
        if type(value) is dict:
            setattr(event_store, name, ScanDetector(value))
            wrapped.append(name)
        elif type(value) is list:
            setattr(event_store, name, ScanDetectorList(value))
            wrapped.append(name)
    assert wrapped, "the event store keeps its indexes in dicts and lists"
    ScanDetector.scans = ScanDetectorList.scans = 0

    for number in range(50):
        one_write(domain, item_cls, counted_cls, number)

    assert ScanDetector.scans == 0
    assert ScanDetectorList.scans == 0
    assert domain.repository_for(item_cls).get("new-49").count == 2  # the writes happened


def median_write_seconds(domain, item_cls, counted_cls, prefix: int, rounds: int = 200) -> float:
    samples = []
    for number in range(rounds):
        started = time.perf_counter()
        one_write(domain, item_cls, counted_cls, prefix + number)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def test_write_cost_stays_flat_from_1k_to_50k_stored_aggregates(store):
    domain, item_cls, counted_cls = store
    fill(domain, item_cls, 1_000)
    small = median_write_seconds(domain, item_cls, counted_cls, prefix=0)
    fill_more = 49_000
    schema = domain.schema_for(item_cls)
    tx = domain.providers.database().begin()
    for number in range(fill_more):
        record = item_cls(id=f"more-{number}", name="x").to_dict()
        record["_event_position"] = -1
        tx.save(schema, record, -1)
    tx.commit()
    assert domain.repository_for(item_cls).count() >= 50_000
    large = median_write_seconds(domain, item_cls, counted_cls, prefix=10_000)
    # generous: a cost that grows with the store would be ~50x here
    assert large < small * 5, f"{small * 1e6:.0f}us per write at 1k, {large * 1e6:.0f}us at 50k"


# --- isolation ------------------------------------------------------------------------------


def test_mutating_a_loaded_objects_list_does_not_change_the_store(store):
    domain, item_cls, _ = store
    repo = domain.repository_for(item_cls)
    repo.add(item_cls(id="i1", tags=["a"], attributes={"nested": {"k": [1]}}))
    loaded = repo.get("i1")
    loaded.tags.append("b")
    loaded.attributes["nested"]["k"].append(2)
    again = repo.get("i1")
    assert again.tags == ["a"]
    assert again.attributes == {"nested": {"k": [1]}}


def test_mutating_an_object_after_saving_it_does_not_change_the_store(store):
    domain, item_cls, _ = store
    repo = domain.repository_for(item_cls)
    item = item_cls(id="i1", tags=["a"], attributes={"nested": {"k": [1]}})
    repo.add(item)
    item.tags.append("b")
    item.attributes["nested"]["k"].append(2)
    assert repo.get("i1").tags == ["a"]
    assert repo.get("i1").attributes == {"nested": {"k": [1]}}
    assert repo.find(tags__contains="b").total == 0


def test_mutating_a_query_result_does_not_change_the_store(store):
    domain, item_cls, _ = store
    repo = domain.repository_for(item_cls)
    repo.add(item_cls(id="i1", name="x", tags=["a"]))
    first = repo.query.all().first
    first.tags.append("zzz")
    assert repo.query.all().first.tags == ["a"]


def test_mutating_read_events_does_not_change_the_event_store(store):
    domain, item_cls, counted_cls = store
    repo = domain.repository_for(item_cls)
    tags = ["a"]
    item = item_cls(id="i1")
    item.raise_(counted_cls(item_id="i1", count=1, tags=tags))
    repo.add(item)
    tags.append("changed by caller")
    stream = f"{item_cls._meta.stream_category}-i1"
    read = domain.event_store.read_stream(stream)
    read[0]["data"]["tags"].append("changed by reader")
    read[0]["metadata"]["headers"]["x"] = 1
    again = domain.event_store.read_stream(stream)
    assert again[0]["data"]["tags"] == ["a"]
    assert again[0]["metadata"]["headers"] == {}


# --- values no store keeps --------------------------------------------------------------------


def test_a_value_no_store_keeps_is_refused_before_anything_is_written(store):
    from archipel.errors import ValidationError

    domain, item_cls, counted_cls = store
    schema = domain.schema_for(item_cls)
    database = domain.providers.database()
    event_store = domain.event_store
    item = item_cls(id="i1")
    item.raise_(counted_cls(item_id="i1", count=1))
    event = item._pending_events()[0]
    event.__dict__["count"] = 2**70  # as a faulty custom field could produce
    before = event_store.count()

    with pytest.raises(ValidationError) as info:
        event_store.append([event])
    assert list(info.value.messages) == ["payload"]

    tx = database.begin()
    tx.save(schema, {**item.to_dict(), "_event_position": 0}, -1)
    event_store.append([event], transaction=tx)
    with pytest.raises(ValidationError):
        tx.commit()  # the record and the event go together, or not at all
    assert event_store.count() == before
    assert database.begin().get(schema, "i1") is None

    with pytest.raises(ValidationError):
        database.begin().save(schema, {**item.to_dict(), "count": 2**70}, -1)


# --- times ------------------------------------------------------------------------------------


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(
    when=st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        # UTC itself, and another tzinfo of offset zero (stored as the same UTC instant)
        timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(0), "Z0")]),
    )
)
def test_a_message_time_reads_back_exactly(when):
    from archipel import BaseEvent as Event
    from archipel.adapters.memory.event_store import MemoryEventStore

    class Happened(Event):
        pass

    store = MemoryEventStore()
    event = Happened()
    meta = event._metadata
    meta.id, meta.type, meta.stream, meta.time = "m1", "Happened.v1", "thing-1", when
    store.append([event])
    read = store.read_stream("thing-1")[0]["metadata"]["time"]
    assert read == when.astimezone(dt.UTC).isoformat()
    assert [m["metadata"]["id"] for m in store.as_of("thing-1", when)] == ["m1"]
    assert store.as_of("thing-1", when - dt.timedelta(microseconds=1)) == []


def test_stored_rows_and_events_are_nothing_the_garbage_collector_tracks(store):
    """Rows are bytes and the event log is columns of strings, integers and bytes: a store of
    any size adds no object a collection must traverse (so writes cost no more at 100 k
    stored aggregates than at 1 k, and no collection is triggered by what stays stored)."""
    import gc

    domain, item_cls, counted_cls = store
    for number in range(50):  # first-use caches (layouts, shapes, routes) are not per write
        one_write(domain, item_cls, counted_cls, number)
    gc.collect()
    before = len(gc.get_objects())
    for number in range(50, 350):
        one_write(domain, item_cls, counted_cls, number)
    gc.collect()
    grown = len(gc.get_objects()) - before
    assert grown < 30, f"{grown} more GC-tracked objects after 300 writes (two versions and two events each)"
