"""``database setup`` on a database set up by an earlier release of the code.

A field added to a model (or a column added to one of archipel's own tables)
must not turn into a driver error at the first write: setup adds the missing
column, existing rows keep their data and read the new field as empty.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from archipel import BaseAggregate, Domain
from archipel.fields import Identifier, Integer, String

PG = pytest.param("postgresql", marks=pytest.mark.postgres)


@pytest.fixture(params=["sqlite", PG])
def database(request, tmp_path):
    if request.param == "sqlite":
        return {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path / 'evolve.db'}"}
    return {"provider": "postgresql", "database_uri": request.getfixturevalue("postgres_db_url")}


def release(name: str, database: dict, *, with_note: bool) -> tuple[Domain, type]:
    domain = Domain(name=name, config={"databases": {"default": database}})

    if with_note:

        class Parcel(BaseAggregate):
            code = Identifier(identifier=True)
            weight = Integer(required=True)
            note = String(max_length=40)

    else:

        class Parcel(BaseAggregate):  # type: ignore[no-redef]
            code = Identifier(identifier=True)
            weight = Integer(required=True)

    domain.register(Parcel)
    domain.init(traverse=False)
    return domain, Parcel


def test_a_field_added_since_setup_is_added_to_the_table(database):
    name = f"Evolve{uuid.uuid4().hex[:6]}"
    old, OldParcel = release(name, database, with_note=False)
    with old.domain_context():
        old.setup_database()
        old.repository_for(OldParcel).add(OldParcel(code="p1", weight=3))
    old.shutdown()

    new, Parcel = release(name, database, with_note=True)
    try:
        with new.domain_context():
            new.setup_database()
            new.setup_database()  # idempotent: the column is there now
            repo = new.repository_for(Parcel)
            kept = repo.get("p1")
            assert (kept.weight, kept.note) == (3, None)
            repo.add(Parcel(code="p2", weight=5, note="fragile"))
            assert repo.get("p2").note == "fragile"
            kept.note = "checked"
            repo.add(kept)
            assert repo.get("p1").note == "checked"
    finally:
        with new.domain_context():
            new.drop_database()
        new.shutdown()


@pytest.mark.postgres
def test_workers_setting_up_one_new_database_at_once_all_succeed(postgres_db_url):
    """Several workers start together on a fresh database: each runs setup, none fails.

    PostgreSQL's ``CREATE TABLE IF NOT EXISTS`` is not safe against a concurrent
    creation of the same table (a unique violation in its catalog): setups take
    one lock, so the second finds the tables there.
    """
    name = f"Race{uuid.uuid4().hex[:6]}"
    database = {"provider": "postgresql", "database_uri": postgres_db_url}
    domains = [release(name, database, with_note=True)[0] for _ in range(6)]
    start = threading.Barrier(len(domains))
    errors: list[BaseException] = []

    def set_up(domain: Domain) -> None:
        try:
            with domain.domain_context():
                start.wait()
                domain.setup_database()
        except BaseException as exc:  # noqa: BLE001 - collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=set_up, args=(d,)) for d in domains]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
    finally:
        for domain in domains:
            domain.shutdown()
