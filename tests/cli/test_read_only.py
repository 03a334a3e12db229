"""Read-only commands create nothing: on a database never set up they say there is nothing yet.

Each command runs as a user runs it (a subprocess) on an empty SQLite file
and on an empty PostgreSQL database with the database broker; afterwards the
database has no table at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.cli.conftest import cli_env, run_cli


@pytest.fixture(params=["sqlite", "postgresql"])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """``(environment for durable_shelf, function listing the database's tables)``."""
    if request.param == "sqlite":
        db = str(tmp_path / "empty.db")
        url = f"sqlite:///{db}"
    else:
        server = request.getfixturevalue("postgres_server")
        name = server.create_database(prefix="t_read_only")
        request.addfinalizer(lambda: server.drop_database(name))
        url = db = server.url(name).replace("postgresql+psycopg://", "postgresql://")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))

    def tables() -> list[str]:
        try:
            return sa.inspect(engine).get_table_names()
        finally:
            engine.dispose()

    return cli_env(DURABLE_SHELF_DB=db, DURABLE_SHELF_BROKER="database"), tables


@pytest.mark.parametrize(
    "args, code, says",
    [
        (["dlq", "list"], 0, "No dead letters in domain CliDurable (nothing yet)"),
        (["subscriptions", "status"], 0, "Courier"),
        (["events", "list"], 0, "No messages in the event store (nothing yet)"),
        (["dlq", "inspect", "no-such-letter"], 1, "no dead letter with id 'no-such-letter'"),
        (["events", "trace", "no-such-id"], 0, "No messages with correlation id no-such-id"),
        (["dlq", "replay", "--all"], 0, "replayed 0 dead letters"),
        (["events", "read", "$all"], 0, "No messages in $all from position 0 (nothing yet)"),
        (["events", "search", "--type", "Sent"], 0, "No messages of type Sent (nothing yet)"),
        (["events", "history", "--aggregate", "Parcel", "--id", "p-1"], 1, "no events for Parcel 'p-1'"),
        (["events", "stats"], 0, "Total: 0 event(s) across 0 aggregate instance(s)"),
    ],
)
def test_reading_an_empty_database_creates_nothing(empty: Any, args: list[str], code: int, says: str) -> None:
    env, tables = empty
    result = run_cli(*args, "--domain", "durable_shelf", env=env)
    assert result.returncode == code, result.stdout + result.stderr
    assert says in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert tables() == []
