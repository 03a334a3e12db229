"""In-memory database: tables of encoded rows, buffered transactions, O(1) commits.

A table maps an identity to its row (:class:`~archipel.adapters.memory.rows.RowCodec`:
the record's values, its ``_version`` and the code of its layout,
msgpack-encoded as one ``bytes`` object). A transaction encodes what it saves
at once (a value no store keeps is refused there) and applies its writes at
commit, after checking every optimistic-concurrency condition under one
process-wide lock, so a commit is atomic and costs O(records written),
independent of the store's size (no per-session copies of the store).
``unique=True`` fields, and declared unique indexes (``Index(..., unique=True)``
without ``where``: Protean's memory store enforces them too), are kept in an index
per field (or tuple of fields) and checked at commit: a value held by another row
raises :class:`~archipel.errors.ValidationError` naming the field (``a_b`` for an
index over ``a`` and ``b``). A value with a None in it collides with nothing, as
in SQL. Queries follow :mod:`archipel.adapters.memory.criteria`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from archipel.adapters.memory._copy import STORE_LOCK
from archipel.adapters.memory.criteria import normalizer_for, run_criteria, sort_records
from archipel.adapters.memory.outbox import MemoryOutbox
from archipel.adapters.memory.row_commit import _conflict, commit_row
from archipel.adapters.memory.rows import RowCodec
from archipel.adapters.memory.unique import hashable, reindex
from archipel.adapters.settings import SWITCHABLE_SETTINGS, check_settings
from archipel.core.queryset import Criteria
from archipel.port.conflicts import UniqueKey, unique_conflict, unique_value
from archipel.port.schema import ModelSchema
from archipel.utils.doorbell import FREED, OUTBOX, bell

__all__ = ["MemoryDatabase", "MemoryTransaction", "RowCodec", "sort_records", "normalizer_for", "run_criteria"]

# table name -> identity -> [*values, version, layout code], encoded (see RowCodec)
_Table = dict[Any, bytes]
_DELETED = object()


#: an idle relay's longest sleep on the memory database (every commit rings it: same process)
_IDLE_WAIT_SECONDS = 1.0


_new_object = object.__new__


class MemoryDatabase:
    """A process-local database (``provider = "memory"``)."""

    def __init__(self, name: str = "default", config: dict[str, Any] | None = None) -> None:
        self.name = name
        self.config = config or {}
        check_settings(f"databases.{name}", "memory", self.config, SWITCHABLE_SETTINGS)
        self.tables: dict[str, _Table] = {}
        self.rows = RowCodec()
        # unique keys (a field, or a unique index's fields): table -> key -> stored value
        # -> identity of its row
        self.unique: dict[str, dict[UniqueKey, dict[Any, Any]]] = {}
        self._unique_names: dict[ModelSchema, tuple[UniqueKey, ...]] = {}  # by schema object
        self._outbox = MemoryOutbox()
        # (subscription, message_id) pairs of messages already handled
        self.processed: set[tuple[str, str]] = set()

    #: ``commit_row(schema, record, expected_version, store, messages)``: one row (and
    #: appends) committed without a transaction object (:mod:`.row_commit`)
    commit_row = commit_row

    def outbox(self) -> MemoryOutbox:
        """The outbox of this database (claimed by the relay)."""
        return self._outbox

    @staticmethod
    def idle_wait(poll_seconds: float) -> float:
        """How long an idle relay may sleep: every commit of this process wakes it sooner."""
        return max(poll_seconds, _IDLE_WAIT_SECONDS)

    @staticmethod
    def relay_shards_freed() -> None:
        """Relay shards of this database's outbox were given back: this process's relays
        (the only ones that see it) look for shards at once."""
        bell(OUTBOX).ring([FREED])

    def begin(self) -> MemoryTransaction:
        # MemoryTransaction(self), without the constructor call (every unit of work begins one)
        tx: MemoryTransaction = _new_object(MemoryTransaction)
        tx.db = self
        tx.writes = {}
        tx.outbox = None
        tx.processed = None
        tx.hooks = None
        tx.appends = []
        tx.done = False
        return tx

    def reads(self) -> MemoryTransaction:
        """Reads outside any transaction: a transaction nothing is ever written to (shared)."""
        reads = self.__dict__.get("_reads")
        if reads is None:
            reads = self._reads = MemoryTransaction(self)
        return reads

    def records(self, table: str) -> list[dict[str, Any]]:
        """Every committed row of ``table`` as a fresh dict (with ``_version``).

        The raw-access counterpart of a SQL cursor for ``domain.connection_for``
        on the memory provider; rows are stored encoded, so this is how to read
        them. An unknown table is ``KeyError`` naming it.
        """
        if table not in self.tables:
            raise KeyError(f"no table {table!r} in memory database {self.name!r}")
        return [self.rows.decode(row) for row in list(self.tables[table].values())]

    def table(self, schema: ModelSchema) -> _Table:
        table = self.tables.get(schema.table)
        if table is None:
            table = self.tables.setdefault(schema.table, {})
        return table

    def setup(self, schemas: Iterable[ModelSchema]) -> None:
        for schema in schemas:
            self.table(schema)

    def unique_names(self, schema: ModelSchema) -> tuple[UniqueKey, ...]:
        """The ``unique=True`` fields of ``schema`` other than its identity, then the
        fields (a tuple) of each unique index it declares without ``where``."""
        names = self._unique_names.get(schema)
        if names is None:
            fields: list[UniqueKey] = [
                name
                for name, field in schema.fields.items()
                if getattr(field, "unique", False) and name != schema.id_field
            ]
            for index in schema.indexes:
                if getattr(index, "unique", False) and getattr(index, "where", None) is None:
                    key = index.fields[0] if len(index.fields) == 1 else tuple(index.fields)
                    if key not in fields:
                        fields.append(key)
            names = self._unique_names[schema] = tuple(fields)
        return names

    def drop(self, schemas: Iterable[ModelSchema]) -> None:
        with STORE_LOCK:
            for schema in schemas:
                self.tables.pop(schema.table, None)
                self.unique.pop(schema.table, None)
            self._outbox.clear()
            self.processed.clear()

    def clear(self, schemas: Iterable[ModelSchema]) -> None:
        """Delete every row of the schemas' tables only (a projection rebuild starts so)."""
        with STORE_LOCK:
            for schema in schemas:
                self.tables.get(schema.table, {}).clear()
                self.unique.pop(schema.table, None)

    def truncate(self, schemas: Iterable[ModelSchema]) -> None:
        with STORE_LOCK:
            for schema in schemas:
                self.tables.get(schema.table, {}).clear()
                self.unique.pop(schema.table, None)
            self._outbox.clear()
            self.processed.clear()

    def close(self) -> None:
        """Nothing to release."""

    def count(self, schema: ModelSchema) -> int:
        return len(self.tables.get(schema.table, {}))


class MemoryTransaction:
    """Buffered writes over a :class:`MemoryDatabase`; see the module docstring."""

    __slots__ = ("db", "writes", "outbox", "hooks", "done", "processed", "appends")

    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db
        # (table, identity) -> (schema, encoded record or _DELETED, expected_version);
        # the encoded record holds the version it gets at commit
        self.writes: dict[tuple[str, Any], tuple[ModelSchema, Any, int]] = {}
        # created on first use: most transactions hold none of these
        self.outbox: list[dict[str, Any]] | None = None
        self.processed: set[tuple[str, str]] | None = None
        # (prepare, apply) pairs from enlisted stores
        self.hooks: list[tuple[Callable[[], None], Callable[[], None]]] | None = None
        # (memory event store, messages) appended atomically at commit
        self.appends: list[tuple[Any, Any]] = []
        self.done = False

    def get(self, schema: ModelSchema, identity: Any) -> dict[str, Any] | None:
        pending = self.writes.get((schema.table, identity))
        if pending is not None:
            row = pending[1]
            return None if row is _DELETED else self.db.rows.decode(row)
        row = self.db.tables.get(schema.table, {}).get(identity)
        return None if row is None else self.db.rows.decode(row)

    def query(self, schema: ModelSchema, criteria: Criteria) -> tuple[list[dict[str, Any]], int]:
        table = self.db.tables.get(schema.table, {})
        rows: Iterable[Any] = table.values()
        if self.writes:
            merged = dict(table)
            for (tname, ident), (_, row, _) in self.writes.items():
                if tname != schema.table:
                    continue
                if row is _DELETED:
                    merged.pop(ident, None)
                else:
                    merged[ident] = row
            rows = merged.values()
        # decoded rows are fresh: the page goes to the caller as it is
        to_record = self.db.rows.decode
        return run_criteria([to_record(row) for row in rows], schema, criteria)

    def save(self, schema: ModelSchema, record: dict[str, Any], expected_version: int) -> None:
        key = (schema.table, record[schema.id_field])
        self.writes[key] = (
            schema,
            self.db.rows.encode(record, expected_version + 1),
            expected_version,
        )

    def delete(self, schema: ModelSchema, identity: Any) -> bool:
        exists = self.get(schema, identity) is not None
        self.writes[(schema.table, identity)] = (schema, _DELETED, -2)
        return exists

    def add_outbox(self, records: Iterable[dict[str, Any]]) -> None:
        if self.outbox is None:
            self.outbox = []
        self.outbox.extend(records)

    def mark_processed(self, subscription: str, message_id: str) -> bool:
        key = (subscription, message_id)
        if self.processed is None:
            self.processed = set()
        elif key in self.processed:
            return False
        if key in self.db.processed:
            return False
        self.processed.add(key)
        return True

    def enlist(self, prepare: Callable[[], None], apply: Callable[[], None]) -> None:
        """Let another in-memory store commit atomically with this transaction."""
        if self.hooks is None:
            self.hooks = []
        self.hooks.append((prepare, apply))

    def commit(self) -> None:
        if self.done:
            return
        writes = self.writes
        if len(writes) == 1 and not (self.hooks or self.outbox or self.processed):
            self._commit_one(writes, self.appends)
            return
        db = self.db
        tables = db.tables
        unique_names = db._unique_names.get
        with STORE_LOCK:
            # 1. check every condition; nothing is applied if one fails
            claims: dict[tuple[str, UniqueKey, Any], Any] | None = None
            for (tname, ident), (schema, row, expected) in writes.items():
                if row is _DELETED:
                    continue
                table = tables.get(tname)
                stored = None if table is None else table.get(ident)
                if stored is None:
                    if expected != -1:
                        _conflict(schema, ident, expected, -1)
                elif RowCodec.version(stored) != expected:
                    _conflict(schema, ident, expected, RowCodec.version(stored))
                names = unique_names(schema)
                if names is None:
                    names = db.unique_names(schema)
                if names:
                    claims = self._claim(schema, ident, db.rows.decode(row), names, claims)
            if self.processed:
                duplicate = self.processed & db.processed
                if duplicate:
                    from archipel.errors import DuplicateMessageError

                    subscription, message_id = next(iter(duplicate))
                    raise DuplicateMessageError(
                        f"{subscription} already handled message {message_id}: the redelivery is ignored"
                    )
            appends = self.appends
            checked = [(store, store._check(messages)) for store, messages in appends] if appends else ()
            hooks = self.hooks
            if hooks:
                for prepare, _ in hooks:
                    prepare()
            # 2. apply
            for (tname, ident), (schema, row, _) in writes.items():
                table = tables.get(tname)
                if table is None:
                    table = tables.setdefault(tname, {})
                names = unique_names(schema)  # known since the check (or a deletion: looked up)
                if names is None:
                    names = db.unique_names(schema)
                if names:
                    old = table.get(ident)
                    reindex(
                        db.unique.setdefault(tname, {}),
                        names,
                        ident,
                        None if old is None else db.rows.decode(old),
                        row if row is _DELETED else db.rows.decode(row),
                        _DELETED,
                    )
                if row is _DELETED:
                    table.pop(ident, None)
                else:
                    table[ident] = row
            for store, fresh in checked:
                store._apply(fresh)  # the data was encoded when checked: this cannot fail
            if hooks:
                for _, apply in hooks:
                    apply()
            outbox = self.outbox
            if outbox:
                db._outbox.add(outbox)
            if self.processed:
                db.processed |= self.processed
        self.done = True
        if outbox:
            bell(OUTBOX).ring()  # push: wake the relay

    def _commit_one(
        self, writes: dict[tuple[str, Any], tuple[ModelSchema, Any, int]], appends: list[tuple[Any, Any]]
    ) -> None:
        """:meth:`commit` of a transaction holding one write and perhaps appends (the common case).

        The same checks and effects in the same order, in one pass over the write.
        """
        db = self.db
        ((tname, ident), (schema, row, expected)), = writes.items()
        names = db._unique_names.get(schema)
        if names is None:
            names = db.unique_names(schema)
        with STORE_LOCK:
            table = db.tables.get(tname)
            stored = None if table is None else table.get(ident)
            if row is not _DELETED:
                if stored is None:
                    if expected != -1:
                        _conflict(schema, ident, expected, -1)
                elif RowCodec.version(stored) != expected:
                    _conflict(schema, ident, expected, RowCodec.version(stored))
            if names and row is not _DELETED:
                self._claim(schema, ident, db.rows.decode(row), names, None)
            checked = []  # a loop, not a comprehension: no frame of its own
            for store, messages in appends:
                checked.append((store, store._check(messages)))
            # every condition holds: apply
            if table is None:
                table = db.tables.setdefault(tname, {})
            if names:
                reindex(
                    db.unique.setdefault(tname, {}),
                    names,
                    ident,
                    None if stored is None else db.rows.decode(stored),
                    row if row is _DELETED else db.rows.decode(row),
                    _DELETED,
                )
            if row is _DELETED:
                table.pop(ident, None)
            else:
                table[ident] = row
            for store, fresh in checked:
                store._apply(fresh)  # the data was encoded when checked: this cannot fail
        self.done = True

    def _claim(
        self,
        schema: ModelSchema,
        ident: Any,
        record: dict[str, Any],
        names: tuple[UniqueKey, ...],
        claims: dict[tuple[str, UniqueKey, Any], Any] | None,
    ) -> dict[tuple[str, UniqueKey, Any], Any]:
        """Refuse a unique value held by another row that keeps it, or claimed twice here."""
        claims = {} if claims is None else claims
        tname = schema.table
        index = self.db.unique.get(tname, {})
        for name in names:
            value = unique_value(record, name)
            if value is None or not hashable(value):
                continue
            key = (tname, name, value)
            holder = claims.setdefault(key, ident)
            if holder == ident:
                holder = index.get(name, {}).get(value)
                if holder is None or holder == ident:
                    continue
                pending = self.writes.get((tname, holder))
                if pending is not None and (
                    pending[1] is _DELETED or unique_value(self.db.rows.decode(pending[1]), name) != value
                ):
                    continue  # its current holder gives it up in this transaction
            raise unique_conflict(schema.cls.__name__, name, value)
        return claims

    def rollback(self) -> None:
        self.writes.clear()
        self.outbox = None
        self.processed = None
        self.hooks = None
        self.appends.clear()
        self.done = True
