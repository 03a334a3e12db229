"""Protean's ``protean.fields.containers``: ``List`` and ``Dict``, defined in :mod:`.composite`."""

from archipel.fields.composite import Dict, List

__all__ = ["Dict", "List"]
