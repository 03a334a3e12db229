"""What a storage adapter needs to know about one persisted element class."""

from __future__ import annotations

from typing import Any

__all__ = ["ModelSchema", "record_schema"]


class ModelSchema:
    """A persisted class: aggregate, projection or process manager state.

    ``table`` is the storage name (``<domain_snake>_<class_snake>``),
    ``id_field`` the identity field, ``fields`` the element's fields
    (``archipel.fields.Field`` instances) by name. Records exchanged with
    adapters are the element's ``to_dict()`` plus ``_event_position`` for
    aggregates; adapters add ``_version`` when reading.
    """

    __slots__ = ("name", "table", "cls", "id_field", "fields", "kind", "database", "extra_columns", "flat", "indexes")

    def __init__(
        self,
        *,
        name: str,
        table: str,
        cls: type,
        id_field: str,
        fields: dict[str, Any],
        kind: str,
        database: str = "default",
        extra_columns: tuple[str, ...] = (),
        indexes: tuple[Any, ...] = (),
    ) -> None:
        self.name = name
        self.table = table
        self.cls = cls
        self.id_field = id_field
        self.fields = fields
        self.kind = kind
        self.database = database
        self.extra_columns = extra_columns
        #: declared :class:`archipel.core.index.Index` objects (SQL adapters create them)
        self.indexes = indexes
        #: every stored value is an immutable scalar (no lists, dicts, nested elements):
        #: adapters may skip deep copies
        self.flat = all(
            getattr(f, "type_name", "") not in ("list", "dict", "value_object", "has_many", "has_one", "any")
            for f in fields.values()
        )

    def __repr__(self) -> str:
        return f"ModelSchema({self.table!r})"


_MARKERS: dict[str, type] = {}


def record_schema(name: str, table: str, id_field: str = "id", **fields: Any) -> ModelSchema:
    """The schema of one of archipel's own tables, whose records are plain dicts.

    ``fields`` are ``archipel.fields`` instances by name (each is given its
    name); the table is stored like a projection in the ``default`` database.
    """
    for field_name, field in fields.items():
        field.name = field_name
    marker = _MARKERS.get(name)
    if marker is None:  # one stable class per table kind (adapters may key caches by it)
        doc = f"Marker class of archipel's {name} table (records are plain dicts)."
        marker = _MARKERS.setdefault(name, type(f"{name}Record", (), {"__doc__": doc}))
    return ModelSchema(name=name, table=table, cls=marker, id_field=id_field, fields=fields, kind="projection")
