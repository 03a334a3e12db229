"""Tables generated from :class:`~archipel.port.schema.ModelSchema`, and the system tables.

Scalar fields become typed columns; everything with structure (``List``,
``Dict``, ``HasMany``, ``HasOne`` and ``ValueObject``) becomes one JSON column
(JSONB on PostgreSQL). Value objects are stored as JSON rather than flattened
into ``<field>_<subfield>`` columns because records are exchanged in primitive
form, where a value object *is* a dict: JSON round-trips it exactly (nested
value objects, ``None`` versus "every attribute None") with no per-row
reshaping, and the query language has no lookup into a value object's
attributes that flat columns would serve.

Every model table has the identity column as primary key, ``_version``
(optimistic concurrency) and the schema's ``extra_columns``. ``unique=True``
fields get a unique constraint. Constraint names are derived from the table
name (shortened with a hash past PostgreSQL's 63 characters) so a violation
can be mapped back to its column.
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import UserDefinedType

from archipel.fields import (
    Association,
    Boolean,
    Date,
    DateTime,
    Decimal,
    Dict,
    Float,
    HasMany,
    HasOne,
    Identifier,
    Integer,
    List,
    Reference,
    String,
    ValueObject,
)
from archipel.port.schema import ModelSchema

__all__ = [
    "Kind",
    "AnyValue",
    "DECIMAL_COLLATION",
    "column_kind",
    "model_table",
    "events_table",
    "outbox_table",
    "outbox_shard_index",
    "processed_table",
    "constraint_name",
    "VERSION",
    "clustered_by_identity",
]

#: the optimistic-concurrency column of every model table
VERSION = "_version"
_MAX_NAME = 63


class Kind:
    """How a column is stored and converted (one of the constants below)."""

    TEXT = "text"
    INT = "int"
    FLOAT = "float"
    DECIMAL = "decimal"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    JSON = "json"


# extra columns the framework adds to records (see ModelSchema.extra_columns)
_EXTRA_KINDS = {
    "_event_position": Kind.INT,
    "_is_complete": Kind.BOOL,
    "_correlation_id": Kind.TEXT,
}


#: SQLite collation comparing decimal text as numbers (registered on every connection)
DECIMAL_COLLATION = "archipel_decimal"


class AnyValue(UserDefinedType[float]):
    """SQLite column without type affinity (declared ``BLOB``): a REAL is kept as
    written, the sign of zero included (REAL affinity stores -0.0 as integer 0)."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "BLOB"


class XID8(UserDefinedType[str]):
    """PostgreSQL's 64-bit transaction id (read as text)."""

    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "XID8"


def column_kind(field: Any) -> str:
    """The storage kind of a field (structured and unknown types are JSON)."""
    if isinstance(field, (ValueObject, HasMany, HasOne, List, Dict)):
        return Kind.JSON
    if isinstance(field, Reference):
        return Kind.TEXT
    if isinstance(field, Association):
        return Kind.JSON
    if isinstance(field, Identifier):
        return Kind.INT if field.identity_type == "integer" else Kind.TEXT
    if isinstance(field, String):
        return Kind.TEXT
    if isinstance(field, Boolean):
        return Kind.BOOL
    if isinstance(field, Integer):
        # Integer(big=True) is stored like a decimal (NUMERIC / text compared as numbers)
        return Kind.DECIMAL if getattr(field, "big", False) else Kind.INT
    if isinstance(field, Float):
        return Kind.FLOAT
    if isinstance(field, Decimal):
        return Kind.DECIMAL
    if isinstance(field, DateTime):
        return Kind.DATETIME
    if isinstance(field, Date):
        return Kind.DATE
    return Kind.JSON


def _sql_type(kind: str, field: Any, postgres: bool) -> Any:
    if kind == Kind.TEXT:
        length = getattr(field, "max_length", None)
        if isinstance(field, (Identifier, Reference)) or field is None:
            length = 255
        return sa.String(length) if length else sa.Text()
    if kind == Kind.INT:
        return sa.BigInteger() if postgres else sa.Integer()
    if kind == Kind.FLOAT:
        # SQLite: no affinity keeps -0.0; NaN (which sqlite3 binds as NULL) is the text 'NaN'
        return sa.Double() if postgres else AnyValue()
    if kind == Kind.DECIMAL:
        # Unconstrained NUMERIC keeps every digit and the scale (1.10 stays 1.10; a
        # NUMERIC(p, s) would pad 1.1 to 1.10); the field checks max_digits/decimal_places.
        # SQLite keeps the text, compared and sorted as numbers by a registered collation.
        return sa.Numeric(asdecimal=True) if postgres else sa.Text(collation=DECIMAL_COLLATION)
    if kind == Kind.BOOL:
        return sa.Boolean(create_constraint=False)
    if kind == Kind.DATE:
        # SQLite keeps the ISO text of the primitive form: exact, and it sorts
        return sa.Date() if postgres else sa.Text()
    if kind == Kind.DATETIME:
        return sa.DateTime(timezone=True) if postgres else sa.Text()
    # "JSON" would get NUMERIC affinity in SQLite; TEXT keeps the JSON text as written.
    # PostgreSQL: json (not jsonb) keeps it as written too (jsonb reads 1e16 back as an
    # integer); queries cast to jsonb to compare.
    return postgresql.JSON() if postgres else sa.Text()


def _payload(postgres: bool) -> Any:
    """Message payloads: JSON text (never queried inside, so JSONB's parsing on every
    insert buys nothing; ``json`` also keeps the keys in the order they were written)."""
    return postgresql.JSON() if postgres else sa.Text()


def constraint_name(table: str, suffix: str) -> str:
    """``<table>_<suffix>``, shortened with a hash to PostgreSQL's 63 characters."""
    name = f"{table}_{suffix}"
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[: _MAX_NAME - 9]}_{digest}"


def model_columns(schema: ModelSchema) -> dict[str, tuple[str, Any]]:
    """``name -> (kind, field or None)`` for every stored column except ``_version``."""
    columns: dict[str, tuple[str, Any]] = {}
    for name, field in schema.fields.items():
        columns[name] = (column_kind(field), field)
    for name in schema.extra_columns:
        if name not in columns:
            columns[name] = (_EXTRA_KINDS.get(name, Kind.JSON), None)
    if schema.id_field not in columns:
        columns[schema.id_field] = (Kind.TEXT, None)
    return columns


def model_table(schema: ModelSchema, metadata: sa.MetaData, postgres: bool) -> sa.Table:
    """The table of an aggregate, projection or process manager."""
    columns: list[Any] = []
    constraints: list[Any] = []
    for name, (kind, field) in model_columns(schema).items():
        # ``referenced_as`` names the column in the database; code keeps using the field's name
        stored_as = getattr(field, "referenced_as", None) or name
        columns.append(
            sa.Column(stored_as, _sql_type(kind, field, postgres), key=name, nullable=name != schema.id_field)
        )
        if name != schema.id_field and field is not None and getattr(field, "unique", False):
            constraints.append(
                sa.UniqueConstraint(name, name=constraint_name(schema.table, f"{name}_key"))
            )
    columns.append(sa.Column(VERSION, sa.Integer(), nullable=False))
    constraints.append(
        sa.PrimaryKeyConstraint(schema.id_field, name=constraint_name(schema.table, "pkey"))
    )
    options: dict[str, Any] = {}
    if not postgres and clustered_by_identity(schema):
        options["sqlite_with_rowid"] = False
    return sa.Table(schema.table, metadata, *columns, *constraints, **options)


#: the largest row (bytes, as declared) of a SQLite ``WITHOUT ROWID`` table: 1/8 of a 4 KiB page
CLUSTERED_ROW_LIMIT = 512
_FIXED_SIZES = {Kind.INT: 9, Kind.FLOAT: 9, Kind.BOOL: 1, Kind.DATE: 10, Kind.DATETIME: 32}


def clustered_by_identity(schema: ModelSchema) -> bool:
    """Whether a SQLite table of ``schema`` is ``WITHOUT ROWID`` (rows kept in identity order).

    A SQLite table with a text primary key is two B-trees: the rows by rowid
    and the key's index, so a new row writes two pages (a random one of the
    index). A ``WITHOUT ROWID`` table is one B-tree, of the rows by identity:
    one page (a commit writes every page it changed to the WAL, ~8 µs each
    here, ``bench/storage.py``), and a read by identity searches one tree.
    Its inner pages hold whole rows, so SQLite advises it for rows averaging
    under ~1/20 of a page: a table qualifies when its identity is text and
    every column has a declared bound (no JSON, no text without
    ``max_length``) summing to at most :data:`CLUSTERED_ROW_LIMIT` bytes — an
    average row then stays well under the advice, since declared maxima
    (255 for an identity) are rarely filled. Integer identities are the rowid
    already. Tables created before keep their layout (both work the same;
    queries always order by identity last, so results do not change).
    """
    total = 0
    for name, (kind, field) in model_columns(schema).items():
        if name == schema.id_field and kind != Kind.TEXT:
            return False
        size = _FIXED_SIZES.get(kind)
        if size is None:
            if kind != Kind.TEXT:
                return False  # JSON and decimal text: no declared bound
            if field is None or isinstance(field, (Identifier, Reference)):
                size = 255  # as _sql_type declares them
            else:
                size = getattr(field, "max_length", None) or 0
                if not size:
                    return False
        total += size
    return total + 9 <= CLUSTERED_ROW_LIMIT  # + _version


def _serial(name: str, postgres: bool) -> sa.Column[int]:
    """An auto-incrementing primary key: BIGINT identity, or SQLite's rowid alias."""
    if postgres:
        return sa.Column(name, sa.BigInteger(), sa.Identity(always=False), primary_key=True)
    return sa.Column(name, sa.Integer(), primary_key=True, autoincrement=True)


def events_table(metadata: sa.MetaData, name: str, postgres: bool) -> sa.Table:
    """The append-only log of messages.

    ``global_position`` orders the whole log, ``(stream, position)`` is
    unique, ``message_id`` makes appends idempotent. On PostgreSQL ``tx_id``
    records the writing transaction (``pg_current_xact_id()``) for gap-free
    reading (see :mod:`archipel.adapters.sql.gapfree`).
    """
    big = sa.BigInteger() if postgres else sa.Integer()
    columns: list[Any] = [
        _serial("global_position", postgres),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("stream", sa.String(255), nullable=False),
        sa.Column("category", sa.String(255), nullable=False),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("position", big, nullable=False),
        sa.Column("correlation_id", sa.String(255)),
        sa.Column("causation_id", sa.String(255)),
        sa.Column("time", sa.DateTime(timezone=True) if postgres else sa.Text()),
        sa.Column("metadata", _payload(postgres), nullable=False),
        sa.Column("data", _payload(postgres), nullable=False),
    ]
    indexes = [
        sa.UniqueConstraint("message_id", name=constraint_name(name, "message_id_key")),
        sa.UniqueConstraint(
            "stream", "position", name=constraint_name(name, "stream_position_key")
        ),
        sa.Index(constraint_name(name, "correlation_idx"), "correlation_id"),
    ]
    if postgres:
        columns.append(
            sa.Column(
                "tx_id", XID8(), nullable=False, server_default=sa.text("pg_current_xact_id()")
            )
        )
        # the log order of gap-free readers: (tx_id, global_position)
        indexes.append(sa.Index(constraint_name(name, "tx_idx"), "tx_id", "global_position"))
        indexes.append(
            sa.Index(
                constraint_name(name, "category_tx_idx"), "category", "tx_id", "global_position"
            )
        )
    else:
        indexes.append(
            sa.Index(constraint_name(name, "category_idx"), "category", "global_position")
        )
    return sa.Table(name, metadata, *columns, *indexes)


def outbox_table(metadata: sa.MetaData, name: str, postgres: bool) -> sa.Table:
    """Messages to relay, written in the business transaction; times are epoch seconds.

    The claim index holds pending rows only, in claim order (highest priority,
    then oldest): a claim reads the first rows of a small index instead of
    sorting every pending row, and sent rows leave it.
    """
    table = sa.Table(
        name,
        metadata,
        _serial("id", postgres),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("stream", sa.String(255), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("type", sa.String(255)),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("correlation_id", sa.String(255)),
        sa.Column("message", _payload(postgres), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_owner", sa.String(255)),
        sa.Column("lease_until", sa.Double()),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("sent_at", sa.Double()),
        sa.Column("last_error", sa.Text()),
        # ids only grow, even after the newest rows are purged (SQLite reuses rowids otherwise)
        sqlite_autoincrement=True,
        # room on each page for a leased copy of every row on it, so that claiming a row
        # (lease columns only) is a HOT update that touches no index. A relay claims runs of
        # consecutive rows, so whole pages at once: at 70 % the copies of about half a page's
        # rows went to other pages, each with two index entries (pkey and claim index): 620-890
        # instead of 355-370 bytes of WAL per relayed row (claim and mark) and claim index
        # entries that later claims step over. 40 %: a leased copy may be ~45 % larger than
        # its row (short rows, long worker ids; tests/adapters/test_outbox_hot_claims.py)
        postgresql_with={"fillfactor": 40},
    )
    pending = table.c.status == sa.literal_column("'pending'")
    sa.Index(
        constraint_name(name, "pending_idx"),
        table.c.priority.desc(),
        table.c.id,
        postgresql_where=pending,
        sqlite_where=pending,
    )
    return table


def outbox_shard_index(table: sa.Table, of: int) -> sa.Index:
    """The claim index of relays holding some of ``of`` relay shards (PostgreSQL): pending
    rows by relay shard (``mod(shard, of)``), then in claim order, so that a relay's claim reads
    its own shards' rows only (``outbox_claim.py``). Attached to ``table`` once per ``of``
    (``setup`` then creates it)."""
    if isinstance(of, bool) or not isinstance(of, int) or of < 2:
        raise ValueError(f"relay shards {of!r}: expected an integer of at least 2")
    name = constraint_name(table.name, f"pending_of{of}_idx")
    for index in table.indexes:
        if index.name == name:
            return index
    pending = table.c.status == sa.literal_column("'pending'")
    return sa.Index(
        name,
        # mod(), not %, whose DDL text psycopg would read as a placeholder; a constant, not a
        # parameter: the claim's expression must be the same for the planner to use the index
        sa.func.mod(table.c.shard, sa.literal_column(str(of))),
        table.c.priority.desc(),
        table.c.id,
        postgresql_where=pending,
    )


def processed_table(metadata: sa.MetaData, name: str, postgres: bool) -> sa.Table:
    """``(subscription, message_id)`` pairs already handled (exactly-once effects)."""
    return sa.Table(
        name,
        metadata,
        sa.Column("subscription", sa.String(255), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("processed_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("subscription", "message_id", name=constraint_name(name, "pkey")),
    )
