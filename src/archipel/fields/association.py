"""Protean's ``protean.fields.association``: the association fields, defined in :mod:`.composite`."""

from archipel.fields.composite import Association, HasMany, HasOne, Reference

__all__ = ["Association", "HasMany", "HasOne", "Reference"]
