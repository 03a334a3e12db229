"""Upgrade-readiness findings for a Protean program ported to archipel (``archipel upgrade-check``).

Protean's ``protean upgrade-check`` reports what a domain must look at when it
moves to a newer Protean. A Protean program ported to archipel makes the same
move and one more, so these findings keep Protean's codes, levels and release
names where the change is one archipel shares (a finding naming "Protean 0.16"
describes the Protean release the behaviour came from), and say what archipel
does where it differs. Read-only: nothing is changed, no table created.

Ported (see docs/porting.md for what is not, and why):

- ``POOL_DEFAULTS_CHANGED`` (warning): a PostgreSQL database without ``pool_size``
  gets Protean 0.16's defaults, which archipel's are (5 + 10 overflow);
- ``HEALTH_PORT_BIND`` (info): Protean's server starts a health server by default;
  archipel's only with ``health_port``;
- ``NESTED_UNIT_OF_WORK`` (warning) / ``UNIT_OF_WORK_NESTING_REVIEW`` (info): a nested
  unit of work joins the outermost (Protean 0.18's ADR-0027, which archipel follows), so an
  inner rollback dooms the whole transaction;
- ``IO_INSIDE_UNIT_OF_WORK`` (warning): a call out inside a unit of work holds its
  open transaction and pooled connection;
- ``PROTEAN_OUTBOX_PENDING`` (warning, archipel's own): a database still holding
  Protean's ``outbox`` table with messages Protean had not published — archipel
  relays from ``archipel_outbox`` and never reads it;
- ``CHECK_FAILED`` (warning): a check that could not run (the report is incomplete there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archipel.domain.upgrade_source import domain_trees, scan_units_of_work, summarise

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["UpgradeFinding", "run_checks", "run_upgrade_checks"]

#: archipel's SQL pool defaults (Protean 0.16's): connections kept, and opened beyond them
POOL_SIZE, MAX_OVERFLOW = 5, 10
#: Protean's outbox states of a message not yet delivered
_UNPUBLISHED = ("pending", "processing", "failed")


@dataclass
class UpgradeFinding:
    """One finding: Protean's fields (``as_dict`` is its JSON form)."""

    code: str
    level: str  # "warning" | "info"
    title: str
    detail: str
    remediation: str
    element: str | None = None
    sql: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "code": self.code, "level": self.level, "title": self.title, "detail": self.detail,
            "remediation": self.remediation, "element": self.element, "sql": self.sql,
        }


def _databases(domain: Domain) -> dict[str, dict[str, Any]]:
    found = domain.config.get("databases") or {}
    return {name: cfg for name, cfg in found.items() if isinstance(cfg, dict)}


def _pool_defaults(domain: Domain) -> list[UpgradeFinding]:
    return [
        UpgradeFinding(
            code="POOL_DEFAULTS_CHANGED",
            level="warning",
            title=f"Database `{name}` uses the new default connection-pool size",
            detail=(
                f"Protean 0.16 raised the SQLAlchemy pool defaults to pool_size={POOL_SIZE}, "
                f"max_overflow={MAX_OVERFLOW} (from 2/5), and archipel's defaults are the same. With "
                f"pool settings unset, each worker may open up to {POOL_SIZE + MAX_OVERFLOW} connections "
                "(was 7 before Protean 0.16)."
            ),
            remediation=(
                f"Verify the database's max_connections has headroom (workers x {POOL_SIZE + MAX_OVERFLOW}). "
                f"To keep the previous behaviour, set pool_size=2 and max_overflow=5 on [databases.{name}]."
            ),
            element=f"databases.{name}",
        )
        for name, cfg in _databases(domain).items()
        if cfg.get("provider") == "postgresql" and "pool_size" not in cfg
    ]


def _health_port(domain: Domain) -> list[UpgradeFinding]:
    server = domain.config.get("server") or {}
    health = server.get("health") if isinstance(server, dict) else None
    if isinstance(server, dict) and (server.get("health_port") or isinstance(health, dict)):
        return []  # asked for (or turned off) explicitly: served as configured
    return [
        UpgradeFinding(
            code="HEALTH_PORT_BIND",
            level="info",
            title="`archipel server` starts no health-check server unless asked",
            detail=(
                "Protean 0.16 starts a health-check HTTP server on port 8080 by default (/healthz, "
                "/livez, /readyz), bound to 127.0.0.1 since Protean 0.17. archipel's server starts "
                "its health endpoint only with --health-port, [server] health_port or a "
                "[server.health] table; it answers GET /health, /healthz, /livez and /readyz on "
                "127.0.0.1 unless [server.health] host says otherwise (200 running, 503 stopping)."
            ),
            remediation=(
                "Where probes call the engine, add a [server.health] table (port 8080 by default; "
                "host, port_auto_increment as in Protean) or pass --health-port 8080."
            ),
            element="server.health_port",
        )
    ]


def _units_of_work(domain: Domain) -> list[UpgradeFinding]:
    nested, calls, blocks = scan_units_of_work(domain_trees(domain))
    findings: list[UpgradeFinding] = []
    if nested:
        findings.append(UpgradeFinding(
            code="NESTED_UNIT_OF_WORK",
            level="warning",
            title=f"{len(nested)} nested Unit of Work block(s)",
            detail=(
                "A Unit of Work opened while another is active now joins the outermost transaction "
                "instead of running independently (ADR-0027). There are no savepoints, so a rollback "
                f"in the inner block rolls back the outer one too. Found at: {summarise(nested)}."
            ),
            remediation=(
                "Check each site for an inner rollback (an explicit `uow.rollback()`, or an exception "
                "caught outside the inner block) that previously left the outer work intact. If the "
                "inner block must be able to fail on its own, give it its own use case rather than "
                "nesting it."
            ),
        ))
    elif blocks:
        findings.append(UpgradeFinding(
            code="UNIT_OF_WORK_NESTING_REVIEW",
            level="info",
            title=f"{blocks} Unit of Work block(s) to review for nesting",
            detail=(
                "No Unit of Work is opened inside another in the same function. Nesting through a "
                "call, where a handler's Unit of Work invokes a service method that opens its own, "
                "cannot be seen statically, and after ADR-0027 a nested rollback dooms the whole "
                "transaction."
            ),
            remediation=(
                "Walk the call graph under these blocks looking for another `UnitOfWork()`. Nesting "
                "is safe as long as nothing inside relies on rolling back independently."
            ),
        ))
    if calls:
        findings.append(UpgradeFinding(
            code="IO_INSIDE_UNIT_OF_WORK",
            level="warning",
            title=f"{len(calls)} external call(s) inside a Unit of Work",
            detail=(
                "A Unit of Work keeps the database transaction its first read opened, and its pooled "
                "connection, until it commits (as in Protean 0.18, ADR-0027), so a call out inside "
                "the block holds them for as long as the call takes. Found at: "
                f"{summarise(calls)}."
            ),
            remediation=(
                "Move the call outside the Unit of Work: commit the domain change first and then do "
                "the external work, or raise an event and let the outbox publish it after the "
                "transaction commits."
            ),
        ))
    return findings


def _protean_outbox(domain: Domain) -> list[UpgradeFinding]:
    import sqlalchemy as sa

    findings: list[UpgradeFinding] = []
    for name in _databases(domain):
        database = domain.providers.databases.get(name)
        engine = getattr(getattr(database, "engine", None), "engine", None)
        if not isinstance(engine, sa.engine.Engine):
            continue  # not a SQL database: it cannot hold Protean's table

        def count(conn: Any) -> int | None:
            inspector = sa.inspect(conn)
            if not inspector.has_table("outbox"):
                return None
            columns = {column["name"] for column in inspector.get_columns("outbox")}
            if not {"status", "message_id"} <= columns:
                return None  # a table of the program's own, named outbox
            table = sa.table("outbox", sa.column("status"))
            query = sa.select(sa.func.count()).select_from(table).where(table.c.status.in_(_UNPUBLISHED))
            return int(conn.execute(query).scalar_one())

        try:
            with engine.connect() as conn:
                pending = count(conn)
        except Exception as exc:  # reported, never a clean report meaning "could not read"
            findings.append(_check_failed(f"Could not inspect the database `{name}` for Protean's outbox", exc,
                                          f"databases.{name}"))
            continue
        if pending:
            findings.append(UpgradeFinding(
                code="PROTEAN_OUTBOX_PENDING",
                level="warning",
                title=f"Protean's outbox on `{name}` holds {pending} unpublished message(s)",
                detail=(
                    "The `outbox` table Protean writes still has messages in state pending, processing "
                    "or failed. archipel relays from its own `archipel_outbox` and never reads Protean's, "
                    "so these would never reach the broker."
                ),
                remediation=(
                    "Before switching, run Protean's server until its outbox has published them, then "
                    "drop the `outbox` table (archipel database setup creates archipel's tables)."
                ),
                element=f"databases.{name}",
            ))
    return findings


def _check_failed(title: str, exc: BaseException, element: str | None = None) -> UpgradeFinding:
    return UpgradeFinding(
        code="CHECK_FAILED",
        level="warning",
        title=title,
        detail=f"The check raised {type(exc).__name__}: {exc}. The report may be incomplete for this area.",
        remediation=(
            "Re-run with the database reachable and the domain fully configured; report the error if "
            "it persists."
        ),
        element=element,
    )


Check = Callable[["Domain"], list[UpgradeFinding]]

#: every readiness check, in report order
CHECKS: tuple[Check, ...] = (_pool_defaults, _health_port, _protean_outbox, _units_of_work)


def run_checks(domain: Domain, checks: tuple[Check, ...]) -> list[UpgradeFinding]:
    """Run ``checks`` in order; one that raises becomes a ``CHECK_FAILED`` finding."""
    findings: list[UpgradeFinding] = []
    for check in checks:
        try:
            findings.extend(check(domain))
        except Exception as exc:  # one failing check must not hide the others' findings
            findings.append(_check_failed(f"Upgrade check `{check.__name__.lstrip('_')}` did not complete", exc))
    return findings


def run_upgrade_checks(domain: Domain) -> list[UpgradeFinding]:
    """Every readiness finding of an initialised ``domain``."""
    return run_checks(domain, CHECKS)
