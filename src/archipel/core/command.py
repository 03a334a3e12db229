"""Commands: a request to change the domain, handled by one command handler."""

from __future__ import annotations

from typing import ClassVar

from archipel.core.message import BaseMessage

__all__ = ["BaseCommand"]


class BaseCommand(BaseMessage):
    """Base class of commands. Immutable; metadata in ``_metadata``."""

    _kind: ClassVar[str] = "COMMAND"
    _element_kind: ClassVar[str] = "command"
