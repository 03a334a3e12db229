"""32 writers on real parallel connections: exactly one winner per version and per
stream position, contiguous, and every loser told with ExpectedVersionError."""

from __future__ import annotations

import threading
from collections import Counter as Tally

import pytest

from archipel import BaseAggregate, BaseEvent
from archipel.errors import ExpectedVersionError
from archipel.fields import Identifier, Integer, List, String
from tests.adapters._model import message
from tests.adapters.conftest import start

WRITERS = 32
WINS_EACH = 3


@pytest.fixture
def counter(make_domain):
    domain = make_domain()

    @domain.aggregate
    class Counter(BaseAggregate):
        value = Integer(default=0)
        writers = List(content_type=String)

    @domain.event(part_of=Counter)
    class Incremented(BaseEvent):
        counter_id = Identifier()
        writer = String()
        value = Integer()

    start(domain)
    with domain.domain_context():
        domain.repository_for(Counter).add(Counter(id="c"))
    return domain, Counter, Incremented


def run_writers(work) -> tuple[list, list[BaseException]]:
    """Run ``work(name, results, together)`` in WRITERS threads started together.

    ``together()`` holds each writer until all have reached it, the first time it is
    called: every writer then tries to write the same version, so the race is certain
    (31 losers in the first round), not left to the scheduler; later calls return at once.
    """
    barrier = threading.Barrier(WRITERS)
    first_round = threading.Barrier(WRITERS, timeout=60)
    results: list = []
    errors: list[BaseException] = []

    def target(name: str) -> None:
        waited = False

        def together() -> None:
            nonlocal waited
            if not waited:
                waited = True
                first_round.wait()

        try:
            barrier.wait()
            work(name, results, together)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(f"w{i}",)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return results, errors


def test_one_winner_per_aggregate_version(counter):
    domain, counter_cls, incremented_cls = counter
    conflicts = Tally()

    def work(name: str, results: list, together) -> None:
        with domain.domain_context():
            repo = domain.repository_for(counter_cls)
            wins = 0
            while wins < WINS_EACH:
                loaded = repo.get("c")
                loaded.value += 1
                loaded.writers = [*loaded.writers, name]
                loaded.raise_(incremented_cls(counter_id="c", writer=name, value=loaded.value))
                together()  # the first round: every writer has loaded version 0
                try:
                    repo.add(loaded)
                except ExpectedVersionError:
                    conflicts[name] += 1
                    continue
                results.append((loaded._version, name, loaded.value))
                wins += 1

    results, errors = run_writers(work)
    assert not errors, errors[:3]
    total = WRITERS * WINS_EACH
    versions = sorted(version for version, _, _ in results)
    assert versions == list(range(1, total + 1)), "each version won exactly once, contiguous"
    assert sum(conflicts.values()) >= WRITERS - 1, "the first round has one winner"

    with domain.domain_context():
        final = domain.repository_for(counter_cls).get("c")
        assert final._version == total
        assert final.value == total
        winners = {version: name for version, name, _ in results}
        assert final.writers == [winners[v] for v in range(1, total + 1)]
        stream = f"{counter_cls._meta.stream_category}-c"
        events = domain.event_store.read_stream(stream)
    assert [e["metadata"]["position"] for e in events] == list(range(total))
    assert [e["data"]["writer"] for e in events] == final.writers
    assert [e["data"]["value"] for e in events] == list(range(1, total + 1))


def test_one_winner_per_stream_position(counter):
    domain, _, incremented_cls = counter
    store = domain.event_store
    conflicts = Tally()

    def work(name: str, results: list, together) -> None:
        wins = 0
        while wins < WINS_EACH:
            position = store.last_position("race-1") + 1
            event = message(
                incremented_cls, "race-1", position, counter_id="c", writer=name, value=position
            )
            together()  # the first round: every writer read the same last position
            try:
                store.append([event])
            except ExpectedVersionError:
                conflicts[name] += 1
                continue
            results.append((position, name))
            wins += 1

    results, errors = run_writers(work)
    assert not errors, errors[:3]
    total = WRITERS * WINS_EACH
    assert sorted(position for position, _ in results) == list(range(total))
    assert sum(conflicts.values()) >= WRITERS - 1, "the first round has one winner"
    events = store.read_stream("race-1")
    winners = dict(results)
    assert [e["metadata"]["position"] for e in events] == list(range(total))
    assert [e["data"]["writer"] for e in events] == [winners[p] for p in range(total)]
    globals_ = [e["metadata"]["global_position"] for e in events]
    assert len(set(globals_)) == total
