"""Compiling SQLAlchemy Core statements to the text archipel runs without SQLAlchemy.

:class:`StatementCompiling` is a mixin of :class:`~archipel.adapters.sql.engine.SqlEngine`:
it needs the engine's ``dialect``, ``is_postgres`` and ``_positional_dialect``.
Statements are compiled once (at table setup) and their text run through the
driver directly; constants archipel writes in a statement become SQL literals.
"""

from __future__ import annotations

import copy
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter

__all__ = ["StatementCompiling"]


class StatementCompiling:
    """``compile``, ``compile_positional`` and ``inline`` of one engine's dialect."""

    dialect: Any
    is_postgres: bool
    _positional_dialect: Any

    def compile(self, statement: Any) -> str:
        """SQL text of a Core statement for this dialect.

        Named ``bindparam("x")`` placeholders stay parameters, supplied by the
        caller at every execution; constants written in the statement by
        archipel itself (``status == "pending"``) are rendered as SQL literals
        by the dialect, since the compiled text is run without SQLAlchemy.
        """
        compiled = self.inline(statement).compile(dialect=self.dialect)
        extra = [name for name, bind in compiled.binds.items() if not bind.required]
        if extra:  # pragma: no cover - a statement archipel builds must not need these
            raise AssertionError(f"compiled SQL has parameters nobody supplies: {extra}")
        return str(compiled)

    def compile_positional(self, statement: Any) -> tuple[str, tuple[str, ...]]:
        """SQL text of a Core statement with positional placeholders (``?`` on SQLite,
        ``%s`` on PostgreSQL), and the names of its bind parameters in placeholder
        order (a name used twice appears twice).

        sqlite3 binds a sequence of values in C; a dict of named values costs
        a lookup of every name at every execution (~10 µs for an event row
        pair). psycopg turns a dict into a sequence at every execution too
        (~1 µs). For the statements of a command's commit and of a read by
        identity, compiled once.
        """
        dialect = self._positional_dialect
        if dialect is None:
            dialect = copy.copy(self.dialect)
            dialect.paramstyle = "format" if self.is_postgres else "qmark"
            dialect.positional = True
            self._positional_dialect = dialect
        compiled = self.inline(statement).compile(dialect=dialect)
        extra = [name for name, bind in compiled.binds.items() if not bind.required]
        if extra:  # pragma: no cover - a statement archipel builds must not need these
            raise AssertionError(f"compiled SQL has parameters nobody supplies: {extra}")
        return str(compiled), tuple(compiled.positiontup or ())

    def inline(self, statement: Any) -> Any:
        """``statement`` with its constants as SQL literals (see :meth:`compile`).

        Apply it to a statement before wrapping it in a CTE: the traversal does
        not reach into CTEs attached with ``add_cte``.
        """
        dialect = self.dialect

        def inline(element: Any) -> Any:
            if (
                isinstance(element, BindParameter)
                and not element.required
                and element.callable is None
            ):
                value = element.value
                if isinstance(value, str):
                    value = str(value)  # a str subclass (quoted_name) has no SQL type
                typed = element if not element.type._isnull else sa.literal(value)
                text = str(typed.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
                return sa.literal_column(text, type_=typed.type)
            return None

        return visitors.replacement_traverse(statement, {}, inline)  # type: ignore[call-overload]
