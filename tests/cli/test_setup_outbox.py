"""``archipel db setup-outbox`` / ``domain.setup_outbox()``: archipel's own tables, not the model's."""

from __future__ import annotations

from typing import Any

from tests.cli.conftest import run_cli
from tests.cli.test_read_only import empty  # noqa: F401 - the fixture (SQLite and PostgreSQL)


def test_setup_outbox_creates_the_outbox_and_no_model_table(empty: Any) -> None:  # noqa: F811
    env, tables = empty
    result = run_cli("db", "setup-outbox", "--domain", "durable_shelf", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    created = set(tables())
    assert any("outbox" in name for name in created), created
    assert any("events" in name for name in created), created
    def model(names: set[str]) -> set[str]:
        return {n for n in names if n.endswith(("parcel", "delivery"))}

    assert model(created) == set(), created  # the model's tables are not made
    again = run_cli("db", "setup-outbox", "--domain", "durable_shelf", env=env)
    assert again.returncode == 0 and set(tables()) == created  # idempotent
    full = run_cli("db", "setup", "--domain", "durable_shelf", env=env)
    assert full.returncode == 0
    assert len(model(set(tables()))) == 2  # the model's tables come with setup


def test_setup_outbox_in_memory_is_a_no_op_that_succeeds(tmp_path):
    from archipel import Domain

    domain = Domain(name="OutboxInMemory")
    domain.init(traverse=False)
    domain.setup_outbox()  # nothing to create; must not fail
