"""PostgreSQL's one-statement commit (``combined.py``) racing a twin still in flight: the
processed record is a plain ``INSERT``, so the commit waits for the twin's transaction and
then fails on the record's key (the twin committed) or goes through (it rolled back)."""

from __future__ import annotations

import threading

import pytest

from archipel.errors import DuplicateMessageError
from tests.adapters._model import define, full_account, record
from tests.adapters.conftest import start


@pytest.fixture
def model(make_domain):
    domain = make_domain()
    model = define(domain)
    start(domain)
    with domain.domain_context():
        yield model


def _someone_waits_for_a_lock(db) -> bool:
    row = db.engine.fetch(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND datname = current_database()", {},
    )
    return bool(row and row[0])


@pytest.mark.parametrize("provider", ["postgresql"], indirect=True)
@pytest.mark.parametrize("twin_commits", [True, False])
def test_a_commit_racing_its_twin_in_flight_waits_then_fails_or_goes_through(model, twin_commits):
    db = model.domain.providers.database()
    schema = model.schema(model.Account)
    twin = db.begin()
    assert twin.mark_processed("sub", "m1") is True
    twin.save(schema, record(model, full_account(model, "t1", email="t1@x")), -1)
    twin.connection()  # begun, its writes sent (the record's key is taken, uncommitted)

    mine = db.begin()
    assert mine.mark_processed("sub", "m1") is True  # not committed by the twin yet
    mine.save(schema, record(model, full_account(model, "m1", email="m1@x")), -1)
    assert mine._statement_count() > 1 and db.one_statement.fits(mine)  # the one-statement path
    outcome: list[BaseException | None] = []

    def commit() -> None:
        try:
            mine.commit()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=commit)
    worker.start()
    # wait (no time bound: a hang is pytest-timeout's) until the commit waits on the twin's lock
    while not outcome and not _someone_waits_for_a_lock(db):
        pass
    assert not outcome, outcome  # it waited for the twin
    if twin_commits:
        twin.commit()
    else:
        twin.rollback()
    worker.join()
    reader = db.begin()
    if twin_commits:
        assert isinstance(outcome[0], DuplicateMessageError), outcome
        assert "m1" in str(outcome[0])
        assert reader.get(schema, "m1") is None  # nothing of the redelivery kept
        assert reader.get(schema, "t1") is not None
    else:
        assert outcome == [None]
        assert reader.get(schema, "m1") is not None
        assert reader.get(schema, "t1") is None
    assert reader.mark_processed("sub", "m1") is False
    reader.rollback()
