"""Queries: typed read requests against projections, answered by a query handler."""

from __future__ import annotations

from typing import ClassVar

from archipel.core.model import BaseModel

__all__ = ["BaseQuery"]


class BaseQuery(BaseModel):
    """A typed read request, answered by one query handler."""

    _element_kind: ClassVar[str] = "query"
    _immutable: ClassVar[bool] = True
