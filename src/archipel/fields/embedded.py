"""Protean's ``protean.fields.embedded``: embedded value objects, defined in :mod:`.composite`."""

from archipel.fields.composite import ValueObject, ValueObjectFromEntity

__all__ = ["ValueObject", "ValueObjectFromEntity"]
