"""SQLite tables of small rows are ``WITHOUT ROWID`` (one B-tree), and behave as any other."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from archipel import BaseAggregate, Domain
from archipel.errors import ExpectedVersionError, ValidationError
from archipel.fields import Identifier, Integer, List, String, Text


def make_domain(tmp_path) -> tuple[Domain, dict[str, type], str]:
    path = str(tmp_path / "layout.db")
    domain = Domain(
        name=f"Lay{uuid.uuid4().hex[:6]}",
        config={
            "databases": {"default": {"provider": "sqlite", "database_uri": f"sqlite:///{path}"}},
            "event_store": {"provider": "sqlite"},
        },
    )

    @domain.aggregate
    class Small(BaseAggregate):
        name = String(max_length=50, required=True)
        email = String(max_length=100, unique=True)
        count = Integer(default=0)

    @domain.aggregate
    class Notes(BaseAggregate):
        body = Text()

    @domain.aggregate
    class Tagged(BaseAggregate):
        tags = List(content_type=String)

    @domain.aggregate
    class Numbered(BaseAggregate):
        number = Identifier(identifier=True, identity_type="integer")
        name = String(max_length=50)

    @domain.aggregate
    class Wide(BaseAggregate):
        a = String(max_length=400)
        b = String(max_length=400)

    domain.init(traverse=False)
    classes = {"Small": Small, "Notes": Notes, "Tagged": Tagged, "Numbered": Numbered, "Wide": Wide}
    return domain, classes, path


def table_sql(domain: Domain, path: str, cls: type) -> str:
    table = domain.schema_for(cls).table
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    return str(row[0]).upper()


def test_only_small_rows_with_text_identities_are_clustered(tmp_path):
    domain, classes, path = make_domain(tmp_path)
    with domain.domain_context():
        domain.setup_database()
    try:
        assert "WITHOUT ROWID" in table_sql(domain, path, classes["Small"])
        # unbounded text, JSON, an integer identity (already the rowid), rows past ~1 KB
        for name in ("Notes", "Tagged", "Numbered", "Wide"):
            assert "WITHOUT ROWID" not in table_sql(domain, path, classes[name]), name
    finally:
        domain.shutdown()


def test_a_clustered_table_keeps_identities_versions_and_unique_fields(tmp_path):
    domain, classes, _ = make_domain(tmp_path)
    small = classes["Small"]
    with domain.domain_context():
        domain.setup_database()
        repo = domain.repository_for(small)
        first = repo.add(small(id="b", name="first", email="b@x"))
        repo.add(small(id="a", name="second", email="a@x"))
        with pytest.raises(ExpectedVersionError, match="already exists"):
            repo.add(small(id="a", name="again", email="other@x"))
        with pytest.raises(ValidationError, match="email"):
            repo.add(small(id="c", name="third", email="b@x"))
        stale = repo.get("b")
        loaded = repo.get("b")
        loaded.count = 5
        repo.add(loaded)
        stale.count = 7
        with pytest.raises(ExpectedVersionError, match="changed concurrently"):
            repo.add(stale)
        assert repo.get("b").count == 5 and repo.get("b").name == first.name
        assert [s.id for s in repo.query.all().items] == ["a", "b"]
    domain.shutdown()


def test_a_table_set_up_before_keeps_its_layout_and_works(tmp_path):
    domain, classes, path = make_domain(tmp_path)
    small = classes["Small"]
    table = domain.schema_for(small).table
    with sqlite3.connect(path) as conn:  # as an earlier archipel created it: a rowid table
        conn.execute(
            f"CREATE TABLE {table} (id VARCHAR(255) NOT NULL, name VARCHAR(50), email "
            "VARCHAR(100), count INTEGER, _version INTEGER NOT NULL, PRIMARY KEY (id))"
        )
    with domain.domain_context():
        domain.setup_database()
        repo = domain.repository_for(small)
        repo.add(small(id="a", name="one", email="a@x"))
        with pytest.raises(ExpectedVersionError, match="already exists"):
            repo.add(small(id="a", name="two", email="b@x"))
        assert repo.get("a").name == "one"
    assert "WITHOUT ROWID" not in table_sql(domain, path, small)
    domain.shutdown()
