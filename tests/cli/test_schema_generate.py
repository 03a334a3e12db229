"""``archipel schema generate|show|render`` (Protean's), beside ``schema dump|check``."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from archipel.cli._console import CliError, UsageError
from archipel.cli.schema import _resolve
from archipel.domain.element_schemas import element_schemas
from tests.cli.conftest import cli_env, run_cli

INDEXED = '''
from archipel import BaseAggregate, BaseEvent, BaseValueObject, Domain
from archipel.core.index import Index
from archipel.fields import Integer, List, String, ValueObject
from archipel.utils.query import Q

domain = Domain(name="Indexed", config={"databases": {"default": {"provider": "sqlite",
                "database_uri": "sqlite:///DBPATH"}}} if "DBPATH" != "" else None)


class Money(BaseValueObject):
    amount = Integer(required=True)
    currency = String(max_length=3, default="EUR")


@domain.aggregate(indexes=[Index("title", "year"), Index("isbn", unique=True, where=Q(year__gt=2000))])
class Book(BaseAggregate):
    """A book on the shelf."""
    title = String(required=True, max_length=80)
    isbn = String(max_length=13)
    year = Integer(default=1999)
    tags = List(content_type=String)
    price = ValueObject(Money)


@domain.event(part_of=Book, published=True)
class BookAdded(BaseEvent):
    title = String(required=True)


domain.register(Money, part_of=Book)
'''


@pytest.fixture
def indexed(tmp_path: Path) -> Path:
    module = tmp_path / "indexed.py"
    module.write_text(textwrap.dedent(INDEXED).replace("DBPATH", str(tmp_path / "indexed.db")))
    return module


def _cli(module: Path, *args: str):
    return run_cli(*args, "--domain", str(module), env=cli_env())


def test_generate_writes_protean_s_layout_and_replaces_stale_files(indexed, tmp_path):
    output = tmp_path / "out"
    stale = output / "schemas" / "Gone" / "events" / "Gone.v1.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    result = _cli(indexed, "schema", "generate", "-o", str(output), "--json")
    assert result.returncode == 0, result.stderr
    files = sorted(Path(f).relative_to(output.resolve()).as_posix() for f in json.loads(result.stdout)["files"])
    assert files == ["schemas/Book/aggregates/Book.v1.json", "schemas/Book/events/BookAdded.v1.json",
                     "schemas/Book/value_objects/Money.v1.json"]
    assert not stale.exists()
    book = json.loads((output / files[0]).read_text())
    assert book["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert book["title"] == "Book" and book["description"] == "A book on the shelf."
    assert book["required"] == ["id", "title"]
    assert book["properties"]["title"] == {"maxLength": 80, "type": "string"}
    assert book["properties"]["year"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 1999}
    assert book["properties"]["tags"]["anyOf"][0] == {"items": {"maxLength": 255, "type": "string"}, "type": "array"}
    price = book["properties"]["price"]["anyOf"][0]
    assert price["required"] == ["amount"] and price["properties"]["currency"]["maxLength"] == 3
    assert book["x-archipel-element-type"] == "aggregate" and book["x-archipel-identity-field"] == "id"
    added = json.loads((output / files[1]).read_text())
    assert added["x-archipel-type"] == "Indexed.BookAdded.v1" and added["x-archipel-published"] is True
    assert added["x-archipel-aggregate"].endswith(".Book") and added["x-archipel-version"] == 1


def test_schemas_describe_what_the_elements_hold(indexed, monkeypatch):
    """Every field a real instance carries is a property of its schema, with a matching JSON type."""
    monkeypatch.syspath_prepend(str(indexed.parent))
    import indexed as module

    module.domain.init(traverse=False)
    schemas = element_schemas(module.domain)
    book = module.Book(title="Dune", isbn="123", tags=["sf"], price=module.Money(amount=5))
    data = book.to_dict()
    schema = schemas[f"{module.Book.__module__}.Book"]
    json_types = {str: "string", int: "integer", list: "array", dict: "object", type(None): "null"}
    for name, value in data.items():
        declared = schema["properties"][name]
        allowed = {option.get("type") for option in declared.get("anyOf", [declared])}
        assert json_types[type(value)] in allowed, (name, value, declared)
    assert set(schema["required"]) <= {k for k, v in data.items() if v is not None}


def test_show_by_name_or_path_and_errors(indexed):
    result = _cli(indexed, "schema", "show", "BookAdded", "--raw")
    assert result.returncode == 0 and json.loads(result.stdout)["title"] == "BookAdded"
    path = json.loads(result.stdout)["x-archipel-fqn"]
    assert json.loads(_cli(indexed, "schema", "show", path, "--json").stdout)["x-archipel-fqn"] == path
    missing = _cli(indexed, "schema", "show", "Nope")
    assert missing.returncode == 1 and "no element 'Nope'" in missing.stderr and "Book" in missing.stderr
    assert _cli(indexed, "schema", "generate", "--format", "avro").returncode == 2
    assert _cli(indexed, "schema", "show", "Book", "--ir", "ir.json").returncode == 2


def test_a_name_shared_by_two_elements_is_ambiguous():
    schemas = {"a.Book": {"title": "a"}, "b.Book": {"title": "b"}, "a.Other": {}}
    assert _resolve("b.Book", schemas) == {"title": "b"}
    with pytest.raises(UsageError, match="a.Book, b.Book"):
        _resolve("Book", schemas)
    with pytest.raises(CliError):
        _resolve("Shelf", schemas)


def _sqlite_indexes(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        return {name: " ".join(sql.split()) for name, sql in rows}


def test_render_gives_the_indexes_setup_creates_on_sqlite(indexed, tmp_path):
    output = tmp_path / "ddl"
    result = _cli(indexed, "schema", "render", "--indexes", "-o", str(output))
    assert result.returncode == 0, result.stderr
    sqlite_file = output / "schemas" / "Book" / "indexed_book.indexes.sqlite.sql"
    assert (output / "schemas" / "Book" / "indexed_book.indexes.postgresql.sql").exists()
    rendered = [line for line in sqlite_file.read_text().splitlines() if line and not line.startswith("--")]
    assert _cli(indexed, "db", "setup").returncode == 0
    created = _sqlite_indexes(tmp_path / "indexed.db")
    declared = {name: sql for name, sql in created.items() if name.startswith("indexed_book_ix")}
    assert len(declared) == len(rendered) == 2
    assert sorted(s.replace(" IF NOT EXISTS", "").rstrip(";") for s in rendered) == sorted(declared.values())


@pytest.mark.postgres
def test_rendered_postgresql_ddl_creates_the_declared_indexes(indexed, tmp_path, postgres_db_url):
    output = tmp_path / "ddl"
    assert _cli(indexed, "schema", "render", "--indexes", "--dialects", "postgresql", "-o", str(output)).returncode == 0
    sql = (output / "schemas" / "Book" / "indexed_book.indexes.postgresql.sql").read_text()
    engine = sa.create_engine(postgres_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE indexed_book (id text primary key, title varchar(80), "
                                 "isbn varchar(13), year bigint)"))
            for statement in filter(None, (s.strip() for s in sql.split(";"))):
                conn.execute(sa.text("\n".join(line for line in statement.splitlines() if not line.startswith("--"))))
            names = sorted(r[0] for r in conn.execute(sa.text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'indexed_book' AND indexname LIKE '%_ix_%'")))
            conn.execute(sa.text("DROP TABLE indexed_book"))
    finally:
        engine.dispose()
    assert names == ["indexed_book_ix_isbn", "indexed_book_ix_title_year"]


def test_render_usage_errors(indexed):
    nothing = _cli(indexed, "schema", "render")
    assert nothing.returncode == 2 and "--indexes" in nothing.stderr
    mysql = _cli(indexed, "schema", "render", "--indexes", "--dialects", "mysql")
    assert mysql.returncode == 2 and "postgresql, sqlite" in mysql.stderr


def test_dump_and_check_still_work(indexed, tmp_path):
    contract = tmp_path / "contract.json"
    assert _cli(indexed, "schema", "dump", "--file", str(contract)).returncode == 0
    assert "Indexed.BookAdded.v1" in json.loads(contract.read_text())["messages"]
    assert _cli(indexed, "schema", "check", "--file", str(contract)).returncode == 0
