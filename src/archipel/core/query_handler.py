"""Query handlers: answer the queries of one projection."""

from __future__ import annotations

from typing import ClassVar

from archipel.core.handler import BaseHandler

__all__ = ["BaseQueryHandler"]


class BaseQueryHandler(BaseHandler):
    """Answers queries (``@handle(MyQuery)``) for a projection (``part_of``)."""

    _element_kind: ClassVar[str] = "query_handler"
