"""Custom database models (Protean's ``protean.core.database_model``): ``BaseDatabaseModel``.

``@domain.database_model(part_of=Product, schema_name="products")`` (or
``domain.register(ProductModel, part_of=Product, schema_name=...)``) names
the table of an aggregate or projection. ``database="sqlite"`` (a database
*type*: ``memory``, ``sqlite``, ``postgresql``) limits the model to elements
stored in a database of that type; a model without it applies to every
database type that has no model of its own.

archipel maps fields to columns itself: a column name is the field's
``referenced_as=``. A database model that declares fields or attributes, or
overrides ``from_entity`` / ``to_entity`` (Protean's custom conversion), is a
:class:`~archipel.errors.ConfigurationError` at ``init()`` naming them, as is a
model of an entity, an event-sourced aggregate (no table) or a projection held
in a cache.
"""

from __future__ import annotations

from typing import Any, ClassVar

from archipel.core.options import ElementOptions

__all__ = ["BaseDatabaseModel"]


class BaseDatabaseModel:
    """Base of custom database models: set ``part_of``, ``schema_name`` and optionally ``database``."""

    _element_kind: ClassVar[str] = "database_model"
    _meta: ClassVar[ElementOptions] = ElementOptions("database_model", "BaseDatabaseModel")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._meta = ElementOptions(cls._element_kind, cls.__name__)
