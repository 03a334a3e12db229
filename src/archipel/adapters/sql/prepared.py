"""PostgreSQL: a hot statement run as a named prepared statement, through libpq directly.

psycopg's ``cursor.execute`` is general: per call it encodes the query text,
looks its conversion up, reorders named parameters, asks its prepared-statement
cache (keyed by the whole query text, hashed again each time), and drives the
exchange through a chain of Python generators. For the statement the engine
runs once per message (``combined.py``'s one-statement commit) that machinery
was a third of the consumer's CPU per message (``bench/consumer_cpu.py --tick 1``);
a repository read by identity outside a transaction runs this way too
(``RecordTable.select_statement``: about half the client CPU of ``cursor.execute``).

Here the statement is converted once (:class:`PreparedStatement`: ``$n``
placeholders, its parameter names in order), prepared once per connection and
per parameter types, and run with one libpq call, ``PQexecPrepared`` (it
releases the GIL while it waits, as psycopg's waiting does). Parameters are
still dumped by psycopg's :class:`~psycopg.adapt.Transformer` of the connection
(the same adapters, the same formats as ``cursor.execute``), and rows loaded by
it; errors are psycopg's exceptions, as ``cursor.execute`` raises them.

A prepared statement can vanish from the server (psycopg sends ``DEALLOCATE
ALL`` after a ``ROLLBACK`` on a connection where it prepared statements, and
so may anyone with ``DISCARD ALL``): the error (``26000``) is caught, the
statement prepared again and run once more — only outside a transaction,
where the failed attempt changed nothing. Connections that are not psycopg's
own (``echo`` and statement observers wrap them) run the statement through
``cursor.execute``, so observers still see it; one wrapped only to time its
statements (the slow-query log, :mod:`~archipel.adapters.sql.echo`) runs it
prepared, as unwrapped, timed around the call, and logged as ``cursor.execute``
would have been.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.errors import error_from_result

from archipel.adapters.sql.connections import cursor_of
from archipel.adapters.sql.echo import EchoConnection

__all__ = ["PreparedStatement", "run_prepared", "count_prepared", "MAX_PREPARED"]

#: prepared statements kept per connection (the oldest is deallocated beyond)
MAX_PREPARED = 64
_PLACEHOLDER = re.compile(r"%(?:%|\((\w+)\)([sb])|.)", re.DOTALL)
_FORMATS = {"s": PyFormat.AUTO, "b": PyFormat.BINARY}
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_CONNECTION_OK = pq.ConnStatus.OK
_IDLE = pq.TransactionStatus.IDLE
_UNDEFINED_PREPARED = "26000"
_ids = iter(range(1 << 62))


class PreparedStatement:
    """A pyformat statement (``%(name)s``, ``%(name)b``, ``%%``) made ready for libpq.

    ``ValueError`` when its placeholders are not all named (then run it
    with ``cursor.execute``).
    """

    __slots__ = ("sql", "text", "names", "formats", "id", "positional_sql", "occurrences", "pick")

    def __init__(self, sql: str) -> None:
        self.sql = sql
        numbers: dict[str, int] = {}
        formats: list[PyFormat] = []

        def number(match: re.Match[str]) -> str:
            name, kind = match.group(1), match.group(2)
            if name is None:
                if match.group(0) != "%%":
                    raise ValueError(f"not a named placeholder: {match.group(0)!r} in {sql[:80]!r}")
                return "%"
            found = numbers.get(name)
            if found is None:
                found = numbers[name] = len(numbers) + 1
                formats.append(_FORMATS[kind])
            elif formats[found - 1] is not _FORMATS[kind]:
                raise ValueError(f"parameter {name!r} is used both as text and binary")
            return f"${found}"

        self.text = _PLACEHOLDER.sub(number, sql).encode()
        self.names = tuple(numbers)
        #: ``pick(params)``: the values of ``names`` in a dict, in order, in one C call (a
        #: command's statement binds ~30: a list comprehension was ~230 bytecodes)
        self.pick: Callable[[dict[str, Any]], Sequence[Any]] = (
            itemgetter(*self.names) if len(self.names) > 1 else lambda params: [params[n] for n in self.names]
        )
        self.formats = formats
        #: for ``cursor.execute`` with a tuple of values (wrapped connections): ``%s``
        #: placeholders, and the index in ``names`` of each one's value
        self.positional_sql = _PLACEHOLDER.sub(lambda m: m.group(0) if m.group(1) is None else f"%{m.group(2)}", sql)
        self.occurrences = tuple(
            numbers[m.group(1)] - 1 for m in _PLACEHOLDER.finditer(sql) if m.group(1) is not None
        )
        #: this statement's number in the names of its prepared statements
        self.id = next(_ids)


class _State:
    """What a connection has prepared, and its transformer (kept on the connection)."""

    __slots__ = ("transformer", "names", "encoding")

    def __init__(self, conn: Any) -> None:
        self.transformer = Transformer(conn)
        #: (statement id, parameter types) -> prepared statement name, oldest first
        self.names: dict[tuple[int, Any], bytes] = {}
        self.encoding = conn.info.encoding


def run_prepared(
    conn: Any, statement: PreparedStatement, params: dict[str, Any] | tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    """Run ``statement`` with ``params`` on ``conn`` (autocommit or in a transaction); its rows.

    ``params``: by name, or a tuple of the values in the order of ``statement.names``.
    """
    if conn.__class__ is not psycopg.Connection:  # wrapped (echo, observers, timing), or another driver
        if conn.__class__ is EchoConnection and conn.only_timed:
            return _timed(conn, statement, params, run_prepared)  # type: ignore[no-any-return]
        cursor = _through_cursor(conn, statement, params)
        return cursor.fetchall() if cursor.description is not None else []
    tx, result = _executed(conn, statement, params)
    if result.status == _COMMAND_OK or not result.ntuples:
        return []
    tx.set_pgresult(result)
    return tx.load_rows(0, result.ntuples, tuple)  # type: ignore[no-any-return]


def count_prepared(conn: Any, statement: PreparedStatement, params: dict[str, Any] | tuple[Any, ...]) -> int:
    """Run ``statement`` (a write, no rows wanted) as :func:`run_prepared` does; the number of
    rows it wrote (``cursor.rowcount``)."""
    if conn.__class__ is not psycopg.Connection:
        if conn.__class__ is EchoConnection and conn.only_timed:
            return _timed(conn, statement, params, count_prepared)  # type: ignore[no-any-return]
        return int(_through_cursor(conn, statement, params).rowcount)
    return int(_executed(conn, statement, params)[1].command_tuples or 0)


def _args(statement: PreparedStatement, params: dict[str, Any] | tuple[Any, ...]) -> Sequence[Any]:
    if params.__class__ is tuple:
        if len(params) != len(statement.names):
            raise ValueError(
                f"{len(params)} values for the {len(statement.names)} parameters "
                f"{statement.names} of {statement.sql[:80]!r}"
            )
        return params  # type: ignore[return-value]
    return [params[name] for name in statement.names]  # type: ignore[call-overload]


def _timed(
    conn: EchoConnection,
    statement: PreparedStatement,
    params: dict[str, Any] | tuple[Any, ...],
    run: Callable[[Any, PreparedStatement, Any], Any],
) -> Any:
    """``run(wrapped connection, statement, params)``: prepared, timed as the statement
    ``cursor.execute`` would have sent (its text and parameters, as :func:`_through_cursor`)."""
    shown: Any = params
    sql = statement.sql
    if params.__class__ is tuple:
        args = _args(statement, params)
        sql, shown = statement.positional_sql, tuple(args[i] for i in statement.occurrences)
    wrapped = conn.wrapped
    return conn.timed_call(sql, shown, lambda: run(wrapped, statement, params))


def _through_cursor(conn: Any, statement: PreparedStatement, params: dict[str, Any] | tuple[Any, ...]) -> Any:
    """``cursor.execute`` of ``statement`` (a connection that is not psycopg's own); the cursor."""
    args = _args(statement, params)
    cursor = cursor_of(conn)
    if params.__class__ is tuple:  # (observers see the values as they were given)
        cursor.execute(statement.positional_sql, tuple(args[i] for i in statement.occurrences))
    else:
        cursor.execute(statement.sql, params)
    return cursor


def _executed(
    conn: Any, statement: PreparedStatement, params: dict[str, Any] | tuple[Any, ...]
) -> tuple[Any, Any]:
    """Run ``statement`` with one ``PQexecPrepared``: the connection's transformer and the
    successful result (psycopg's exception otherwise)."""
    args: Sequence[Any]
    if params.__class__ is tuple:
        args = _args(statement, params)  # (its count checked)
    else:
        args = statement.pick(params)  # type: ignore[arg-type]
    state = conn.__dict__.get("_archipel_prepared")
    if state is None:
        state = conn.__dict__["_archipel_prepared"] = _State(conn)
    tx = state.transformer
    values = tx.dump_sequence(args, statement.formats)
    types = tx.types
    formats = tx.formats
    pgconn = conn.pgconn
    key = (statement.id, types)
    for attempt in (1, 2):
        name = state.names.get(key)
        if name is None:
            name = _prepare(pgconn, state, key, statement, types)
        result = pgconn.exec_prepared(name, values, formats)  # type: ignore[arg-type]  # (None: NULL)
        status = result.status
        if status == _TUPLES_OK or status == _COMMAND_OK:
            return tx, result
        error = _error(pgconn, result, state.encoding)
        if (
            attempt == 1
            and getattr(error, "sqlstate", None) == _UNDEFINED_PREPARED
            and pgconn.transaction_status == _IDLE
        ):
            state.names.clear()  # deallocated behind our back: prepare again, once
            continue
        raise error
    raise AssertionError("unreachable")  # pragma: no cover


def _prepare(pgconn: Any, state: _State, key: tuple[int, Any], statement: PreparedStatement, types: Any) -> bytes:
    names = state.names
    if len(names) >= MAX_PREPARED:
        dropped = names.pop(next(iter(names)))
        if pgconn.transaction_status == _IDLE:  # (in a transaction, a failure would abort it)
            pgconn.exec_(b"DEALLOCATE " + dropped)  # (if it fails, it was gone already)
    name = b"_archipel_%d" % next(_ids)
    result = pgconn.prepare(name, statement.text, types)
    if result.status != _COMMAND_OK:
        raise _error(pgconn, result, state.encoding)
    names[key] = name
    return name


def _error(pgconn: Any, result: Any, encoding: str) -> Exception:
    """psycopg's exception for a failed ``result`` (``OperationalError`` when the connection died)."""
    if pgconn.status != _CONNECTION_OK:
        return psycopg.OperationalError(f"the connection was lost: {pq.error_message(pgconn, encoding)}")
    return error_from_result(result, encoding=encoding)
