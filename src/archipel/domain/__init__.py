"""The ``Domain`` (Protean's ``protean.domain.Domain``) and its collaborators."""

from archipel.domain.domain import Domain

__all__ = ["Domain"]
