"""Protean's ``protean.domain.context``: :func:`has_domain_context` (a façade: the code
lives in :mod:`archipel.utils.globals`, where every layer can ask; nothing inside archipel
imports this module). A domain's context is entered with ``domain.domain_context()``;
Protean's ``DomainContext`` class has no archipel counterpart (the block is a context
manager over context variables)."""

from __future__ import annotations

from archipel.utils.globals import has_domain_context

__all__ = ["has_domain_context"]
