"""Queries and query handlers: typed reads against projections."""

from __future__ import annotations

from typing import ClassVar

from archipel.core.handler import BaseHandler
from archipel.core.model import BaseModel

__all__ = ["BaseQuery", "BaseQueryHandler"]


class BaseQuery(BaseModel):
    """A typed read request, answered by one query handler."""

    _element_kind: ClassVar[str] = "query"
    _immutable: ClassVar[bool] = True


class BaseQueryHandler(BaseHandler):
    """Answers queries (``@handle(MyQuery)``) for a projection (``part_of``)."""

    _element_kind: ClassVar[str] = "query_handler"
