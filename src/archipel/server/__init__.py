"""Protean's ``protean.server``: :class:`Engine` (a façade over :mod:`archipel.engine`)."""

from archipel.server.engine import Engine

__all__ = ["Engine"]
