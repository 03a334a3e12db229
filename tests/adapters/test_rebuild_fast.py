"""The fast rebuild path (bulk reads, bulk loads, writes behind the next batch), on every provider.

The SQL stores rebuild through :mod:`archipel.adapters.sql.bulk` and write a
batch while the next one runs; memory through the ordinary ports. Either way
the rows must be exactly those the live projection wrote.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import uuid
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseEvent, BaseProjection, Domain, current_domain, handle
from archipel.adapters.sql.bulk import bulk_load
from archipel.errors import DatabaseError, DeserializationError, ValidationError
from archipel.fields import Identifier, Integer, String, Text
from archipel.handling.rebuild import projector_routes, rebuild_records
from archipel.handling.switching import REBUILD_SWITCH_INTERVAL
from tests.adapters.conftest import SQL_PROVIDERS, start
from tests.adapters.test_rebuild import Shop, _customer, _order, _rows, define

history = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3),  # which customer
        st.integers(min_value=0, max_value=40),  # amount
        st.booleans(),  # cancelled afterwards
    ),
    max_size=12,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.sampled_from(["ann", "bob", "gone"]), min_size=1, max_size=4), orders=history,
       batch_size=st.sampled_from([1, 2, 3, 7, 500]))
def test_rebuilt_rows_are_the_live_rows_whatever_the_history_and_batch_size(
    make_domain: Any, names: list[str], orders: list[tuple[int, int, bool]], batch_size: int
) -> None:
    # rows created, updated many times in a batch and across batches, deleted ("gone"
    # customers whose orders are all cancelled), in every batching
    shop = define(make_domain())
    with shop.domain.domain_context():
        customers = [_customer(shop, name) for name in names]
        counts = dict.fromkeys(customers, 0)
        events = len(names)
        for which, amount, cancel in orders:
            customer = customers[which % len(customers)]
            if customer not in counts:
                continue  # its row was deleted: the projector has nothing to update
            _order(shop, customer, amount, cancel)
            events += 2 if cancel else 1
            if cancel and counts[customer] == 0 and names[customers.index(customer)] == "gone":
                del counts[customer]
            elif not cancel:
                counts[customer] += 1
        live = _rows(shop)
        first = shop.domain.rebuild_projection(shop.Spending, batch_size=batch_size)
        assert _rows(shop) == live
        second = shop.domain.rebuild_projection(shop.Spending, batch_size=batch_size)
        assert _rows(shop) == live
        assert first.events_dispatched == second.events_dispatched == events


def _ranked(domain: Domain) -> tuple[Any, Any, Any]:
    @domain.aggregate
    class Runner(BaseAggregate):
        name = String(max_length=50)

    @domain.event(part_of=Runner)
    class Finished(BaseEvent):
        runner_id = Identifier()
        name = String(max_length=50)

    @domain.projection
    class Ranking(BaseProjection):
        runner_id = Identifier(identifier=True)
        name = String(max_length=50)
        rank = Integer()

    @domain.projector(projector_for=Ranking, aggregates=[Runner])
    class RankingProjector:
        @handle(Finished)
        def finished(self, event: Finished) -> None:
            # reads the table: the rows of earlier batches must be there
            before = current_domain.query_for(Ranking).count()
            current_domain.repository_for(Ranking).add(
                Ranking(runner_id=event.runner_id, name=event.name, rank=before + 1)
            )

    start(domain)
    return Runner, Finished, Ranking


def test_a_projector_that_queries_its_table_sees_every_earlier_batch(make_domain: Any) -> None:
    domain = make_domain()
    runner_cls, finished, ranking = _ranked(domain)
    with domain.domain_context():
        for name in ("ann", "bob", "cy", "dee", "eve"):
            runner = runner_cls(name=name)
            runner.raise_(finished(runner_id=runner.id, name=name))
            domain.repository_for(runner_cls).add(runner)
        live = sorted((r.name, r.rank) for r in domain.query_for(ranking).all().items)
        assert live == [("ann", 1), ("bob", 2), ("cy", 3), ("dee", 4), ("eve", 5)]
        domain.rebuild_projection(ranking, batch_size=1)
        assert sorted((r.name, r.rank) for r in domain.query_for(ranking).all().items) == live


def test_replayed_events_are_recorded_as_processed_by_the_projectors_subscription(make_domain: Any) -> None:
    # with asynchronous processing, a server resuming after the rebuild skips what it replayed
    shop = define(make_domain(event_processing="async"))
    with shop.domain.domain_context():
        ann = _customer(shop, "ann")
        _order(shop, ann, 5)
        _order(shop, ann, 7, cancel=True)
        ids = [m["metadata"]["id"] for m in shop.domain.event_store.read_all(limit=100)
               if m["metadata"]["kind"] == "EVENT"]
        assert len(ids) == 4
        result = shop.domain.rebuild_projection(shop.Spending, batch_size=3)
        assert result.events_dispatched == 4
        assert _rows(shop) == [(ann, "ann", 1, 5)]
        (subscription,) = {route.name for route in projector_routes(shop.domain, shop.Spending)}
        tx = shop.domain.providers.database("default").begin()
        try:
            assert [tx.mark_processed(subscription, i) for i in ids] == [False] * 4
            assert tx.mark_processed(subscription, str(uuid.uuid4())) is True
        finally:
            tx.rollback()


def test_old_and_current_versions_mixed_in_one_batch_are_all_applied(shop_domain: Shop) -> None:
    from tests.adapters.test_rebuild import test_old_versions_are_upcast_during_a_rebuild

    # an upcast v1 between current events, in one batch and batch by batch
    shop = shop_domain
    test_old_versions_are_upcast_during_a_rebuild(shop)
    ann = shop.domain.query_for(shop.Spending).all().items[0].customer_id
    _order(shop, ann, 5)
    for batch_size in (1, 500):
        shop.domain.rebuild_projection(shop.Spending, batch_size=batch_size)
        assert _rows(shop) == [(ann, "ann", 2, 30)]


@pytest.fixture
def shop_domain(make_domain: Any) -> Any:
    shop = define(make_domain())
    with shop.domain.domain_context():
        yield shop


@pytest.mark.parametrize("stored", ['{"customer_id": ', '[1, 2]'])
def test_a_message_stored_as_broken_json_stops_the_rebuild_naming_it(tmp_path: Path, stored: str) -> None:
    # only SQLite can hold such a row (PostgreSQL's json type refuses it at write time)
    path = tmp_path / "broken.db"
    domain = Domain(name=f"T{uuid.uuid4().hex[:8]}", config={
        "databases": {"default": {"provider": "sqlite", "database_uri": f"sqlite:///{path}"}},
        "event_store": {"provider": "sqlite"},
    })
    shop = define(domain)
    try:
        with domain.domain_context():
            ann = _customer(shop, "ann")
            _order(shop, ann, 5)
            conn = sqlite3.connect(path)
            with conn:
                broken = conn.execute(
                    "SELECT message_id FROM archipel_events ORDER BY global_position DESC LIMIT 1"
                ).fetchone()[0]
                conn.execute("UPDATE archipel_events SET data = ? WHERE message_id = ?", (stored, broken))
            conn.close()
            with pytest.raises(DeserializationError, match="not valid JSON|not a JSON object") as caught:
                domain.rebuild_projection(shop.Spending)
            assert caught.value.message_id == broken
    finally:
        domain.shutdown()


@pytest.mark.postgres
@pytest.mark.parametrize("stored", ['[1, 2]', '"text"', "null"])
def test_stored_data_that_is_json_but_no_object_stops_a_postgresql_rebuild_naming_it(
    postgres_db_url: str, stored: str
) -> None:
    # PostgreSQL's json type takes any JSON value: the batch's data, decoded in one call,
    # must still name the message whose data is no object
    import psycopg

    from tests._servers import to_libpq_url

    domain = Domain(name=f"T{uuid.uuid4().hex[:8]}", config={
        "databases": {"default": {"provider": "postgresql", "database_uri": postgres_db_url}},
        "event_store": {"provider": "postgresql"},
    })
    shop = define(domain)
    start(domain)
    try:
        with domain.domain_context():
            ann = _customer(shop, "ann")
            for amount in (5, 7, 11):
                _order(shop, ann, amount)
            with psycopg.connect(to_libpq_url(postgres_db_url), autocommit=True) as conn:
                broken = conn.execute(
                    "SELECT message_id FROM archipel_events ORDER BY global_position DESC LIMIT 1 OFFSET 1"
                ).fetchone()[0]  # type: ignore[index]
                conn.execute("UPDATE archipel_events SET data = %s WHERE message_id = %s", (stored, broken))
            for batch_size in (2, 500):
                with pytest.raises(DeserializationError, match="not a JSON object") as caught:
                    domain.rebuild_projection(shop.Spending, batch_size=batch_size)
                assert caught.value.message_id == broken
    finally:
        domain.shutdown()


def test_a_projector_sees_each_event_as_the_ordinary_decoding_gives_it(make_domain: Any) -> None:
    # the fast path adopts the decoded JSON instead of copying it: same values, same
    # envelope (time as a datetime, headers, positions), and objects of their own
    domain = make_domain()

    @domain.aggregate
    class Note(BaseAggregate):
        text = String(max_length=50)

    @domain.event(part_of=Note)
    class Noted(BaseEvent):
        note_id = Identifier()
        text = String(max_length=50)
        stars = Integer()

    @domain.projection
    class Noting(BaseProjection):
        note_id = Identifier(identifier=True)
        text = String(max_length=50)

    seen: list[Any] = []

    @domain.projector(projector_for=Noting, aggregates=[Note])
    class Noter:
        @handle(Noted)
        def noted(self, event: Noted) -> None:
            seen.append(event)
            current_domain.repository_for(Noting).add(Noting(note_id=event.note_id, text=event.text))

    start(domain)
    with domain.domain_context():
        for i, stars in enumerate((None, 3, 5)):
            note = Note(text=f"n{i}")
            event = Noted(note_id=note.id, text=note.text, stars=stars)
            event._metadata.headers["origin"] = f"test {i}"
            note.raise_(event)
            domain.repository_for(Note).add(note)
        seen.clear()
        domain.rebuild_projection(Noting, batch_size=2)
        stored = [m for m in domain.event_store.read_all(limit=100) if m["metadata"]["type"].endswith("Noted.v1")]
        expected = [Noted.from_message(m) for m in stored]
        assert [e.to_dict() for e in seen] == [e.to_dict() for e in expected]
        assert [e._metadata.to_dict() for e in seen] == [e._metadata.to_dict() for e in expected]
        assert [e.metadata.headers for e in seen] == [{"origin": f"test {i}"} for i in range(3)]
        assert all(e.metadata.time == x.metadata.time and e.metadata.time.tzinfo is not None
                   for e, x in zip(seen, expected, strict=True))
        assert [e.metadata.global_position for e in seen] == [x.metadata.global_position for x in expected]
        assert all(type(e) is Noted and e == x for e, x in zip(seen, expected, strict=True))


def test_a_rebuild_reports_the_cpu_of_each_of_its_threads(make_domain: Any, provider: str) -> None:
    # what bench/rebuild.py prints per thread: the reader (decoding), fetch (its queries) and
    # writer threads run on SQL files
    shop = define(make_domain())
    with shop.domain.domain_context():
        ann = _customer(shop, "ann")
        for amount in (5, 7, 11):
            _order(shop, ann, amount)
        result = shop.domain.rebuild_projection(shop.Spending, batch_size=2)
    threads = {"main", "reader", "fetch", "writer"} if provider != "memory" else {"main"}
    assert set(result.cpu_seconds) == threads
    assert all(seconds >= 0 for seconds in result.cpu_seconds.values())


def _shelf(domain: Domain) -> tuple[Any, Any, Any]:
    @domain.aggregate
    class Book(BaseAggregate):
        title = Text()

    @domain.event(part_of=Book)
    class Shelved(BaseEvent):
        book_id = Identifier()
        title = Text()
        copies = Integer(big=True)

    @domain.projection
    class Shelf(BaseProjection):
        book_id = Identifier(identifier=True)
        label = String(max_length=6)
        copies = Integer()

    @domain.projector(projector_for=Shelf, aggregates=[Book])
    class Shelver:
        @handle(Shelved)
        def shelved(self, event: Shelved) -> None:
            # values the projector computes: a label or a count its field may not hold
            current_domain.repository_for(Shelf).add(
                Shelf(book_id=event.book_id, label=event.title.upper(), copies=event.copies)
            )

    start(domain)
    return Book, Shelved, Shelf


titles = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)
books = st.lists(
    st.tuples(titles, st.integers(min_value=-(2**64), max_value=2**64)), min_size=1, max_size=6
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stored=books)
def test_a_value_a_projection_field_cannot_hold_stops_the_rebuild_naming_the_field(
    make_domain: Any, stored: list[tuple[str, int]]
) -> None:
    # the rebuild validates what projectors compute as a live projector does: every row
    # that fits is the one the ordinary constructor gives, one that does not stops it
    domain = make_domain()
    book_cls, shelved, shelf = _shelf(domain)
    with domain.domain_context():
        events = []
        for title, copies in stored:
            book = book_cls(title=title)
            book.raise_(shelved(book_id=book.id, title=title, copies=copies))
            events.extend(book._events)
        domain.event_store.append(events)  # stored, not projected
        expected: dict[str, tuple[str, int]] = {}
        failing: set[str] = set()
        for event in events:
            try:
                row = shelf(book_id=event.book_id, label=event.title.upper(), copies=event.copies)
            except ValidationError as exc:
                failing = set(exc.messages)
                break
            expected[row.book_id] = (row.label, row.copies)
        if failing:
            with pytest.raises(ValidationError) as caught:
                domain.rebuild_projection(shelf, batch_size=2)
            assert set(caught.value.messages) == failing
            assert rebuild_records(domain)[shelf.__name__]["state"] == "failed"
        else:
            domain.rebuild_projection(shelf, batch_size=2)
            rows = domain.query_for(shelf).all().items
            assert {r.book_id: (r.label, r.copies) for r in rows} == expected


def notes_domain(make_domain: Any, after_each: Callable[[Any], None]) -> tuple[Any, type, type, type]:
    """A started domain whose ``Notes`` projection gets one row per ``Written`` event;
    ``after_each(domain)`` runs in the projector after each row. Returns the domain,
    ``Note``, ``Written`` and ``Notes``."""
    domain = make_domain()

    @domain.aggregate
    class Note(BaseAggregate):
        text = Text()

    @domain.event(part_of=Note)
    class Written(BaseEvent):
        note_id = Identifier()

    @domain.projection
    class Notes(BaseProjection):
        note_id = Identifier(identifier=True)

    @domain.projector(projector_for=Notes, aggregates=[Note])
    class Noter:
        @handle(Written)
        def written(self, event: Written) -> None:
            current_domain.repository_for(Notes).add(Notes(note_id=event.note_id))
            after_each(domain)

    start(domain)
    return domain, Note, Written, Notes


def write_notes(note: type, written: type, count: int) -> None:
    """``count`` notes, one ``Written`` event each."""
    for _ in range(count):
        one = note(text="x")
        one.raise_(written(note_id=one.id))
        current_domain.repository_for(note).add(one)


def test_a_rebuild_on_sql_switches_threads_sooner_and_gives_the_interval_back(
    make_domain: Any, provider: str
) -> None:
    # its reader and writer threads take the GIL back within REBUILD_SWITCH_INTERVAL of a
    # round trip (not CPython's 5 ms); the process keeps its own interval afterwards
    seen: list[float] = []
    domain, Note, Written, Notes = notes_domain(make_domain, lambda _: seen.append(sys.getswitchinterval()))
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        with domain.domain_context():
            write_notes(Note, Written, 3)
            seen.clear()
            result = domain.rebuild_projection(Notes, batch_size=2)
            assert result.events_dispatched == 3
            assert current_domain.query_for(Notes).count() == 3
        wanted = 0.005 if provider == "memory" else REBUILD_SWITCH_INTERVAL
        assert seen == [pytest.approx(wanted)] * 3
        assert sys.getswitchinterval() == pytest.approx(0.005)
    finally:
        sys.setswitchinterval(before)


@pytest.mark.parametrize("provider", SQL_PROVIDERS, indirect=True)
def test_rows_loaded_alone_are_all_written_or_none(make_domain: Any) -> None:
    # a batch of new rows only is written by one statement of its own (no BEGIN/COMMIT on
    # PostgreSQL): a row that cannot go in leaves none of its batch behind
    shop = define(make_domain())
    database = shop.domain.providers.database("default")
    schema = shop.domain.schema_for(shop.Spending)
    loader = bulk_load(database)
    assert loader is not None
    table = database.record_table(schema)
    row = itemgetter(*table.names)

    def rows(*names: str) -> list[tuple[Any, ...]]:
        return [(*row({"customer_id": name, "name": name, "orders": 1, "total": 2}), 0) for name in names]

    loader.load_rows_alone(schema, rows("a", "b"))
    with pytest.raises(DatabaseError):
        loader.load_rows_alone(schema, rows("c", "d", "a"))  # "a" is there already
    with shop.domain.domain_context():
        assert sorted(r.customer_id for r in current_domain.query_for(shop.Spending).all()) == ["a", "b"]


def test_status_says_rebuilding_while_the_events_are_replayed_and_done_at_the_end(
    make_domain: Any, provider: str
) -> None:
    # on the SQL stores the "rebuilding" record is written beside the first batches: it is
    # there while the projectors run, and "done" (written after it) is the last word
    states: list[str] = []

    def at_the_last_event(domain: Any) -> None:
        if len(current_domain.query_for(Notes).all()) == 5:  # the last event: wait for the record
            for _ in range(500):
                state = rebuild_records(domain).get("Notes", {}).get("state")
                if state == "rebuilding":
                    break
                threading.Event().wait(0.01)
            states.append(str(state))

    domain, Note, Written, Notes = notes_domain(make_domain, at_the_last_event)
    with domain.domain_context():
        write_notes(Note, Written, 5)
        states.clear()
        domain.rebuild_projection(Notes, batch_size=2)
        record = rebuild_records(domain)["Notes"]
    assert states == ["rebuilding"]
    assert (record["state"], record["events"], record["error"]) == ("done", 5, None)
