"""``archipel upgrade-check``: options, exit statuses and JSON as Protean's; the live checks on real stores."""

from __future__ import annotations

import json
import sys
import textwrap
import types
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from archipel import Domain

typer_testing = pytest.importorskip("typer.testing")

KEYS = {"code", "level", "title", "detail", "remediation", "element", "sql"}


def _codes(outcome: Any) -> list[str]:
    return [finding["code"] for finding in json.loads(outcome.out)]


@pytest.mark.parametrize(
    "flags",
    [("--format", "xml"), ("--pinned-version", "0.16"), ("--opportunities", "--pinned-version", "0.16latest")],
)
def test_wrong_usage_exits_as_protean_s(cli: Any, flags: tuple[str, ...]) -> None:
    from protean.cli import app

    theirs = typer_testing.CliRunner().invoke(app, ["upgrade-check", *flags])
    ours = cli("upgrade-check", "--domain", "sample_shelf", *flags)
    assert ours.code == theirs.exit_code == 1
    assert ours.out == "" and "Error:" in ours.err


def test_an_unloadable_domain_exits_1(cli: Any) -> None:
    outcome = cli("upgrade-check", "--domain", "no_such_module_here")
    assert outcome.code == 1 and "no_such_module_here" in outcome.err


def test_info_only_exits_0_with_protean_s_json(cli: Any) -> None:
    outcome = cli("upgrade-check", "--domain", "sample_shelf", "--format", "json")
    assert outcome.code == 0, outcome.err
    findings = json.loads(outcome.out)
    assert [f["code"] for f in findings] == ["HEALTH_PORT_BIND"]
    assert all(set(f) == KEYS and f["level"] == "info" for f in findings)
    rich = cli("upgrade-check", "--domain", "sample_shelf")
    assert rich.code == 0 and "REVIEW" in rich.text and "HEALTH_PORT_BIND" in rich.text


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A package with a domain whose handler nests units of work and calls out inside one."""
    package = f"nesting_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / package
    folder.mkdir()
    (folder / "__init__.py").write_text(
        'from archipel import Domain\n\ndomain = Domain(name="Nesting", config={"server": {"health_port": 8081}})\n'
    )
    (folder / "service.py").write_text(textwrap.dedent("""\
        import httpx
        from archipel import UnitOfWork


        def transfer():
            with UnitOfWork():
                with UnitOfWork():
                    pass
                httpx.post("https://bank.example")
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package
    for name in [m for m in sys.modules if m.startswith(package)]:
        del sys.modules[name]


def test_warnings_exit_2_and_name_each_site(cli: Any, project: str) -> None:
    outcome = cli("upgrade-check", "--domain", project, "--format", "json")
    assert outcome.code == 2, outcome.err
    findings = {f["code"]: f for f in json.loads(outcome.out)}
    assert set(findings) == {"NESTED_UNIT_OF_WORK", "IO_INSIDE_UNIT_OF_WORK"}  # health_port is set
    assert f"{project}.service:7" in findings["NESTED_UNIT_OF_WORK"]["detail"]
    assert f"{project}.service:9 (httpx.post())" in findings["IO_INSIDE_UNIT_OF_WORK"]["detail"]
    assert "joins the outermost transaction" in findings["NESTED_UNIT_OF_WORK"]["detail"]
    # the opportunities read the source only: no readiness finding, nothing initialised
    outcome = cli("upgrade-check", "--domain", project, "--opportunities", "--format", "json")
    assert outcome.code == 0 and json.loads(outcome.out) == []


def test_opportunities_follow_the_pinned_version(cli: Any) -> None:
    owned = cli("upgrade-check", "--domain", "sample_shelf", "--opportunities", "--format", "json")
    assert _codes(owned) == ["SANITIZE_DEFAULT_CHANGED"]
    before = cli("upgrade-check", "--domain", "sample_shelf", "--opportunities", "--pinned-version", "0.17.2",
                 "--format", "json")
    assert before.code == 0 and _codes(before) == []


# -- the live checks ----------------------------------------------------------------------
def _database(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> dict[str, Any]:
    if kind == "sqlite":
        return {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path}/legacy.db"}
    return {"provider": "postgresql", "database_uri": request.getfixturevalue("postgres_db_url")}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def legacy(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A ported program whose database still has Protean's outbox table."""
    database = _database(request, tmp_path, request.param)
    domain = Domain(name=f"Legacy{uuid.uuid4().hex[:6]}", config={"databases": {"default": database}})
    domain.init(traverse=False)
    engine = sa.create_engine(database["database_uri"])
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS outbox"))
        conn.execute(sa.text(
            "CREATE TABLE outbox (id VARCHAR(50) PRIMARY KEY, message_id VARCHAR(255), status VARCHAR(50))"
        ))
    module = types.ModuleType("legacy_program")
    module.domain = domain  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "legacy_program", module)
    domain.kind = request.param  # type: ignore[attr-defined]
    yield domain, engine
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS outbox"))
    engine.dispose()
    domain.shutdown()


def _rows(engine: Any, *statuses: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox"))
        for n, status in enumerate(statuses):
            conn.execute(sa.text("INSERT INTO outbox VALUES (:id, :m, :s)"), {"id": str(n), "m": f"m{n}", "s": status})


def test_protean_s_unpublished_outbox_is_a_warning(cli: Any, legacy: Any) -> None:
    domain, engine = legacy
    _rows(engine, "published", "abandoned")
    clean = cli("upgrade-check", "--domain", "legacy_program", "--format", "json")
    assert "PROTEAN_OUTBOX_PENDING" not in _codes(clean)

    _rows(engine, "pending", "processing", "failed", "published")
    outcome = cli("upgrade-check", "--domain", "legacy_program", "--format", "json")
    assert outcome.code == 2
    [found] = [f for f in json.loads(outcome.out) if f["code"] == "PROTEAN_OUTBOX_PENDING"]
    assert "3 unpublished" in found["title"] and found["element"] == "databases.default"
    pool = [f for f in json.loads(outcome.out) if f["code"] == "POOL_DEFAULTS_CHANGED"]
    assert len(pool) == (1 if domain.kind == "postgres" else 0)  # pool_size unset on PostgreSQL


def test_an_unreadable_database_is_check_failed_not_clean(cli: Any, legacy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    domain, _ = legacy
    database = domain.providers.databases["default"]

    unreachable = sa.create_engine("sqlite:////nonexistent-folder/legacy.db")
    with monkeypatch.context() as patched:  # the real engine back before the domain shuts down
        patched.setattr(database.engine, "engine", unreachable)
        outcome = cli("upgrade-check", "--domain", "legacy_program", "--format", "json")
    assert outcome.code == 2
    [failed] = [f for f in json.loads(outcome.out) if f["code"] == "CHECK_FAILED"]
    assert "OperationalError" in failed["detail"] and failed["element"] == "databases.default"
