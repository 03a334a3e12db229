"""In-memory database: tables of encoded rows, buffered transactions, O(1) commits.

A table maps an identity to its row: the record's values, its ``_version``
and the code of its layout (the tuple of its keys, kept once per database),
msgpack-encoded as one ``bytes`` object — about a third of a dict's size,
never tracked by the garbage collector, and isolated by construction: every
read decodes fresh containers. A transaction encodes what it saves at once (a
value no store keeps is refused there) and applies its writes at commit,
after checking every optimistic-concurrency condition under one
process-wide lock, so a commit is atomic and costs O(records written),
independent of the store's size (no per-session copies of the store).
``unique=True`` fields are kept in an index per field and checked at commit:
a value held by another row raises :class:`~archipel.errors.ValidationError`
naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from archipel.adapters.memory._copy import STORE_LOCK, decode, encode
from archipel.adapters.memory.outbox import MemoryOutbox
from archipel.core.queryset import Criteria
from archipel.errors import ExpectedVersionError, IncorrectUsageError, ValidationError
from archipel.port.schema import ModelSchema
from archipel.utils.doorbell import OUTBOX, bell
from archipel.utils.lookups import (
    JsonEqual,
    Ordered,
    is_numeric,
    is_structured,
    lookup_normalizer,
    unorderable,
)
from archipel.utils.query import F, compile_predicate, split_lookup

__all__ = ["MemoryDatabase", "MemoryTransaction", "RowCodec", "sort_records", "normalizer_for"]

# table name -> identity -> [*values, version, layout code], encoded (see RowCodec)
_Table = dict[Any, bytes]
_DELETED = object()


def normalizer_for(schema: ModelSchema) -> Callable[[str, Any, str], Any]:
    """Convert criteria values to the form records are compared in (see
    :func:`archipel.utils.lookups.lookup_normalizer`): the stored form, except
    decimals, which compare as values. Invalid values raise ValidationError."""
    return lookup_normalizer(schema.fields)


def _memory_normalizer(schema: ModelSchema) -> Callable[[str, Any, str], Any]:
    """:func:`normalizer_for`, with numbers wrapped in :class:`Ordered` (NaN order)."""
    base = lookup_normalizer(schema.fields)
    numeric = {name for name, field in schema.fields.items() if is_numeric(field)}

    structured = {name for name, field in schema.fields.items() if is_structured(field)}

    def normalize(name: str, value: Any, lookup: str = "exact") -> Any:
        value = base(name, value, lookup)
        if value is None:
            return value
        if name in numeric and lookup not in _TEXT_LOOKUPS:
            return Ordered(value)
        if name in structured and (lookup in ("exact", "in") or isinstance(value, (list, dict))):
            return JsonEqual(value)  # JSON equality, as jsonb and archipel_json_key
        return value

    return normalize


_TEXT_LOOKUPS = frozenset({"iexact", "contains", "icontains", "startswith", "endswith"})


class _TypedView:
    """A record whose numeric fields read as :class:`Ordered` values, for comparing
    and sorting (decimal text sorts wrongly; NaN sorts above every number)."""

    __slots__ = ("record", "typed")

    def __init__(self, record: dict[str, Any], typed: dict[str, Callable[[Any], Any]]) -> None:
        self.record = record
        self.typed = typed

    def get(self, name: str, default: Any = None) -> Any:
        value = self.record.get(name, default)
        convert = self.typed.get(name)
        return value if convert is None or value is None else convert(value)


def _typed_fields(schema: ModelSchema, criteria: Criteria) -> dict[str, Callable[[Any], Any]]:
    """Numeric fields the criteria filter or sort on, with their converter to Ordered."""
    names = {split_lookup(key)[0] for key, _ in criteria.q.leaves()}
    names.update(value.name for _, value in criteria.q.leaves() if isinstance(value, F))
    names.update(key.lstrip("-") for key in criteria.order_by)
    return {
        name: _ordered(field.from_primitive)
        for name, field in schema.fields.items()
        if name in names and is_numeric(field)
    }


def _ordered(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def typed(value: Any) -> Any:
        try:
            return Ordered(convert(value))
        except (ValueError, ArithmeticError):  # an odd stored value: compared as stored
            return value

    return typed


def sort_records(records: list[Any], order_by: tuple[str, ...]) -> list[Any]:
    """Stable multi-key sort; ``-name`` descending; ``None`` sorts first."""
    for key in reversed(order_by):
        name, reverse = (key[1:], True) if key.startswith("-") else (key, False)
        records.sort(
            key=lambda r: (r.get(name) is not None, r.get(name)),  # noqa: B023
            reverse=reverse,
        )
    return records


def run_criteria(
    rows: Iterable[dict[str, Any]], schema: ModelSchema, criteria: Criteria
) -> tuple[list[dict[str, Any]], int]:
    """Filter, sort and page plain records (reference query semantics)."""
    q = criteria.q
    typed = _typed_fields(schema, criteria)
    if typed:
        rows = [_TypedView(r, typed) for r in rows]  # type: ignore[misc]
    if q.children:
        predicate = compile_predicate(q, _memory_normalizer(schema))
        matched = [r for r in rows if predicate(r)]  # type: ignore[arg-type]
    else:
        matched = list(rows)
    total = len(matched)
    if criteria.order_by:
        for key in criteria.order_by:
            if is_structured(schema.fields.get(key.lstrip("-"))):
                raise IncorrectUsageError(unorderable(schema.name, key))
        sort_records(matched, criteria.order_by)
    start = criteria.offset or 0
    end = None if criteria.limit is None else start + criteria.limit
    page = matched[start:end]
    if typed:
        page = [view.record for view in page]  # type: ignore[attr-defined]
    return page, total


#: an idle relay's longest sleep on the memory database (every commit rings it: same process)
_IDLE_WAIT_SECONDS = 1.0


class RowCodec:
    """Rows as ``bytes``: a record's values with its version and layout code, msgpack-encoded.

    A layout is the tuple of a record's keys; a database keeps each one once,
    so a row costs its values only. Decoding gives a fresh dict with
    ``_version``.
    """

    def __init__(self) -> None:
        self._layouts: list[tuple[str, ...]] = []
        self._codes: dict[tuple[str, ...], int] = {}

    def encode(self, record: dict[str, Any], version: int) -> bytes:
        """``record`` (its ``_version`` key, if any, replaced by ``version``) as a row."""
        if "_version" in record:
            record = {k: v for k, v in record.items() if k != "_version"}
        layout = tuple(record)
        code = self._codes.get(layout)
        if code is None:
            with STORE_LOCK:
                code = self._codes.get(layout)
                if code is None:
                    code = self._codes[layout] = len(self._layouts)
                    self._layouts.append(layout)
        return encode([*record.values(), version, code])

    def decode(self, row: bytes) -> dict[str, Any]:
        """A fresh record with ``_version`` from a row."""
        values = decode(row)
        code = values.pop()
        version = values.pop()
        record = dict(zip(self._layouts[code], values, strict=True))
        record["_version"] = version
        return record

    @staticmethod
    def version(row: bytes) -> int:
        """The version of a row."""
        return decode(row)[-2]  # type: ignore[no-any-return]


class MemoryDatabase:
    """A process-local database (``provider = "memory"``)."""

    def __init__(self, name: str = "default", config: dict[str, Any] | None = None) -> None:
        self.name = name
        self.config = config or {}
        self.tables: dict[str, _Table] = {}
        self.rows = RowCodec()
        # unique fields: table -> field -> stored value -> identity of its row
        self.unique: dict[str, dict[str, dict[Any, Any]]] = {}
        self._unique_names: dict[ModelSchema, tuple[str, ...]] = {}  # by schema object
        self._outbox = MemoryOutbox()
        # (subscription, message_id) pairs of messages already handled
        self.processed: set[tuple[str, str]] = set()

    def outbox(self) -> MemoryOutbox:
        """The outbox of this database (claimed by the relay)."""
        return self._outbox

    @staticmethod
    def idle_wait(poll_seconds: float) -> float:
        """How long an idle relay may sleep: every commit of this process wakes it sooner."""
        return max(poll_seconds, _IDLE_WAIT_SECONDS)

    def begin(self) -> MemoryTransaction:
        return MemoryTransaction(self)

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

    def unique_names(self, schema: ModelSchema) -> tuple[str, ...]:
        """The ``unique=True`` fields of ``schema`` other than its identity."""
        names = self._unique_names.get(schema)
        if names is None:
            names = self._unique_names[schema] = tuple(
                name
                for name, field in schema.fields.items()
                if getattr(field, "unique", False) and name != schema.id_field
            )
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


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _reindex(
    index: dict[str, dict[Any, Any]],
    names: tuple[str, ...],
    ident: Any,
    old: dict[str, Any] | None,
    new: Any,
) -> None:
    """Move ``ident``'s unique values from its ``old`` row to its ``new`` one (or none)."""
    for name in names:
        values = index.setdefault(name, {})
        if old is not None:
            value = old.get(name)
            if value is not None and _hashable(value) and values.get(value) == ident:
                del values[value]
        if new is not _DELETED:
            value = new.get(name)
            if value is not None and _hashable(value):
                values[value] = ident


def _conflict(schema: ModelSchema, ident: Any, expected: int, actual: int) -> None:
    name = schema.cls.__name__
    if expected == -1:
        message = (
            f"{name} {ident!r} already exists: load it and change it "
            "instead of adding a new one with the same identity"
        )
    else:
        message = (
            f"{name} {ident!r} was changed concurrently (expected version "
            f"{expected}, found {actual}): reload it and retry"
        )
    raise ExpectedVersionError(message, stream=str(ident), expected=expected, actual=actual)


class MemoryTransaction:
    """Buffered writes over a :class:`MemoryDatabase`; see the module docstring."""

    __slots__ = ("db", "writes", "outbox", "hooks", "done", "processed", "appends")

    def __init__(self, db: MemoryDatabase) -> None:
        self.db = db
        # (table, identity) -> (schema, encoded record or _DELETED, expected_version);
        # the encoded record holds the version it gets at commit
        self.writes: dict[tuple[str, Any], tuple[ModelSchema, Any, int]] = {}
        self.outbox: list[dict[str, Any]] = []
        self.processed: set[tuple[str, str]] = set()
        # (prepare, apply) pairs from enlisted stores (the memory event store)
        self.hooks: list[tuple[Callable[[], None], Callable[[], None]]] = []
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
        self.outbox.extend(records)

    def mark_processed(self, subscription: str, message_id: str) -> bool:
        key = (subscription, message_id)
        if key in self.processed or key in self.db.processed:
            return False
        self.processed.add(key)
        return True

    def enlist(self, prepare: Callable[[], None], apply: Callable[[], None]) -> None:
        """Let another in-memory store commit atomically with this transaction."""
        self.hooks.append((prepare, apply))

    def commit(self) -> None:
        if self.done:
            return
        db = self.db
        tables = db.tables
        writes = self.writes
        with STORE_LOCK:
            # 1. check every condition; nothing is applied if one fails
            claims: dict[tuple[str, str, Any], Any] | None = None
            for (tname, ident), (schema, row, expected) in writes.items():
                if row is _DELETED:
                    continue
                table = tables.get(tname)
                stored = table.get(ident) if table is not None else None
                actual = -1 if stored is None else RowCodec.version(stored)
                if actual != expected:
                    _conflict(schema, ident, expected, actual)
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
            checked = [(store, store._check(messages)) for store, messages in self.appends]
            for prepare, _ in self.hooks:
                prepare()
            # 2. apply
            for (tname, ident), (schema, row, _) in writes.items():
                table = tables.get(tname)
                if table is None:
                    table = tables.setdefault(tname, {})
                names = db.unique_names(schema)
                if names:
                    old = table.get(ident)
                    _reindex(
                        db.unique.setdefault(tname, {}),
                        names,
                        ident,
                        None if old is None else db.rows.decode(old),
                        row if row is _DELETED else db.rows.decode(row),
                    )
                if row is _DELETED:
                    table.pop(ident, None)
                else:
                    table[ident] = row
            for store, fresh in checked:
                store._apply(fresh)  # the data was encoded when checked: this cannot fail
            for _, apply in self.hooks:
                apply()
            if self.outbox:
                db._outbox.add(self.outbox)
            if self.processed:
                db.processed |= self.processed
        self.done = True
        if self.outbox:
            bell(OUTBOX).ring()  # push: wake the relay

    def _claim(
        self,
        schema: ModelSchema,
        ident: Any,
        record: dict[str, Any],
        names: tuple[str, ...],
        claims: dict[tuple[str, str, Any], Any] | None,
    ) -> dict[tuple[str, str, Any], Any]:
        """Refuse a unique value held by another row that keeps it, or claimed twice here."""
        claims = {} if claims is None else claims
        tname = schema.table
        index = self.db.unique.get(tname, {})
        for name in names:
            value = record.get(name)
            if value is None or not _hashable(value):
                continue
            key = (tname, name, value)
            holder = claims.setdefault(key, ident)
            if holder == ident:
                holder = index.get(name, {}).get(value)
                if holder is None or holder == ident:
                    continue
                pending = self.writes.get((tname, holder))
                if pending is not None and (
                    pending[1] is _DELETED or self.db.rows.decode(pending[1]).get(name) != value
                ):
                    continue  # its current holder gives it up in this transaction
            raise ValidationError(
                {
                    name: [
                        f"{schema.cls.__name__} with {name}={value!r} already exists: {name} is unique"
                    ]
                }
            )
        return claims

    def rollback(self) -> None:
        self.writes.clear()
        self.outbox.clear()
        self.processed.clear()
        self.hooks.clear()
        self.appends.clear()
        self.done = True
