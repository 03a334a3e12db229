"""Command handlers: the classes whose ``@handle`` methods carry out commands."""

from __future__ import annotations

from typing import ClassVar

from archipel.core.handler import BaseHandler

__all__ = ["BaseCommandHandler"]


class BaseCommandHandler(BaseHandler):
    """Handles commands of one aggregate (``part_of``)."""

    _element_kind: ClassVar[str] = "command_handler"
