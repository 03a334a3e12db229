"""Assert the statements a block sends to the database: Protean's query assertions.

Catch query-cost regressions (an extra round trip, a count wrapped around a
subquery, a ``LIMIT`` far above what the caller needs) deterministically, with
no timing::

    from archipel.integrations.pytest import assert_query_count

    def test_loading_an_order_is_one_query(order_id):
        with domain.domain_context(), assert_query_count(1):
            domain.repository_for(Order).get(order_id)

archipel sends its statements on the driver connections directly, so these
helpers observe its own engine (``SqlEngine.observe``), not SQLAlchemy's events:
every statement on a connection checked out during the block is seen (a
connection a unit of work opened before the block keeps is not). The engine is
the active domain's ``default`` database; pass ``engine=`` (archipel's
``SqlEngine``, the SQLAlchemy ``Engine`` behind it, or a database name of the
active domain) for another. As in Protean, where there is no SQL engine (the
in-memory adapter, no active domain) the helpers observe nothing and assert
nothing: mark such tests to run on a SQL store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from archipel.errors import IncorrectUsageError
from archipel.utils.globals import active_domain

__all__ = ["assert_no_overfetch", "assert_no_subquery_wrap", "assert_query_count", "capture_queries"]

#: ``SELECT count(*) FROM (SELECT ...) AS anon_1``: a count around a whole subquery
SUBQUERY_WRAP_PATTERN = re.compile(r"SELECT\s+count\(\*\).*\bFROM\s*\(\s*SELECT\b", re.IGNORECASE | re.DOTALL)
#: the token after ``LIMIT``: a literal, a named parameter, or a positional placeholder (also
#: inside ``nullif(..., -1)``, archipel's PostgreSQL form where -1 means no limit)
LIMIT_PATTERN = re.compile(r"\bLIMIT\s+(?:nullif\(\s*)?(\d+|%\(\w+\)s|:\w+|\?|%s)", re.IGNORECASE)
_NAMED = re.compile(r"%\((\w+)\)s|:(\w+)")
_PLACEHOLDER = re.compile(r"\?|%s")
#: the statements that count as a query (a data round trip); PRAGMA, SET, BEGIN, COMMIT do not
_QUERY_VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")


def is_query(statement: str) -> bool:
    """True for a data round trip (``SELECT``/``INSERT``/``UPDATE``/``DELETE``/``WITH``)."""
    return statement.lstrip().upper().startswith(_QUERY_VERBS)


def resolve_engine(engine: Any = None) -> Any | None:
    """archipel's ``SqlEngine`` to observe, or None when there is none to observe.

    ``engine``: None (the active domain's ``default`` database), a ``SqlEngine``, the
    SQLAlchemy ``Engine`` of one of the active domain's databases, or a database name.
    """
    if engine is not None and callable(getattr(engine, "observe", None)):
        return engine
    domain = active_domain()
    if domain is None:
        if engine is None:
            return None
        raise IncorrectUsageError("engine= names a database of the active domain: activate one first")
    databases = domain.providers.databases
    if engine is None or isinstance(engine, str):
        name = engine or "default"
        if name not in databases:
            raise IncorrectUsageError(f"no database named {name!r}; this domain has {sorted(databases)}")
        found = getattr(databases[name], "engine", None)
        return found if callable(getattr(found, "observe", None)) else None
    for database in databases.values():
        sql_engine = getattr(database, "engine", None)
        if getattr(sql_engine, "engine", None) is engine:
            return sql_engine
    raise IncorrectUsageError(f"{engine!r} is not the engine of any database of domain {domain.name!r}")


@contextmanager
def _listen(engine: Any, callback: Callable[[str, Any], None]) -> Iterator[None]:
    if engine is None:
        yield
        return
    with engine.observe(callback):
        yield


@contextmanager
def capture_queries(engine: Any = None) -> Iterator[list[tuple[str, Any]]]:
    """Yield a list that receives ``(statement, parameters)`` for each statement of the block.

    Asserts nothing itself (e.g. check that a parent's ``INSERT`` comes before its
    child's). Empty where there is no SQL engine to observe.
    """
    captured: list[tuple[str, Any]] = []
    with _listen(resolve_engine(engine), lambda sql, params: captured.append((sql, params))):
        yield captured


@contextmanager
def assert_query_count(expected: int, engine: Any = None) -> Iterator[list[str]]:
    """Fail unless exactly ``expected`` queries run in the block.

    A query is a data round trip (see :func:`is_query`): connection setup and
    transaction control are not counted. Yields every statement, unfiltered; the
    failure lists the counted ones. Asserts nothing where there is no SQL engine.
    """
    resolved = resolve_engine(engine)
    statements: list[str] = []
    with _listen(resolved, lambda sql, _params: statements.append(sql)):
        yield statements
    if resolved is None:
        return
    queries = [s for s in statements if is_query(s)]
    if len(queries) != expected:
        raise AssertionError(
            f"Expected {expected} quer{'y' if expected == 1 else 'ies'}, got {len(queries)}:\n"
            + _listing(queries)
        )


@contextmanager
def assert_no_subquery_wrap(engine: Any = None) -> Iterator[list[str]]:
    """Fail if a statement of the block wraps ``count(*)`` around a subquery."""
    resolved = resolve_engine(engine)
    statements: list[str] = []
    with _listen(resolved, lambda sql, _params: statements.append(sql)):
        yield statements
    offenders = [s for s in statements if SUBQUERY_WRAP_PATTERN.search(s)]
    if resolved is not None and offenders:
        raise AssertionError(f"{len(offenders)} subquery-wrapped count(s) detected:\n" + _listing(offenders))


@contextmanager
def assert_no_overfetch(
    expected_returned: int, ratio: float = 1.5, engine: Any = None
) -> Iterator[list[tuple[str, Any]]]:
    """Fail if any ``LIMIT`` of the block exceeds ``expected_returned * ratio`` rows.

    Reads literal and bound ``LIMIT`` values (named or positional parameters); one
    that cannot be resolved to an int is skipped, not guessed.
    """
    resolved = resolve_engine(engine)
    executions: list[tuple[str, Any]] = []
    with _listen(resolved, lambda sql, params: executions.append((sql, params))):
        yield executions
    threshold = expected_returned * ratio
    offenders = [
        (sql, limit) for sql, params in executions for limit in limit_values(sql, params) if limit > threshold
    ]
    if resolved is not None and offenders:
        raise AssertionError(
            f"Over-fetch detected (expected <= {threshold:g} rows):\n"
            + "\n".join(f"  - LIMIT {limit}: {_trim(sql)}" for sql, limit in offenders)
        )


def limit_values(statement: str, parameters: Any) -> Iterator[int]:
    """The integer ``LIMIT`` values of ``statement``, bound parameters resolved (a negative
    value, "no limit", is left out)."""
    for match in LIMIT_PATTERN.finditer(statement):
        token = match.group(1)
        if token.isdigit():
            yield int(token)
            continue
        named = _NAMED.fullmatch(token)
        if named is not None:
            if isinstance(parameters, dict):
                value = parameters.get(named.group(1) or named.group(2))
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    yield value
            continue
        if isinstance(parameters, (list, tuple)):
            index = len(_PLACEHOLDER.findall(statement[: match.start()]))
            if index < len(parameters):
                value = parameters[index]
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    yield value


def _listing(statements: list[str]) -> str:
    return "\n".join(f"  {i}. {_trim(s)}" for i, s in enumerate(statements, 1))


def _trim(statement: str, length: int = 200) -> str:
    collapsed = " ".join(statement.split())
    return collapsed if len(collapsed) <= length else collapsed[:length] + " ..."
