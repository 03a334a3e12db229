"""Subscribers: receivers of raw broker payloads (the anti-corruption layer)."""

from __future__ import annotations

from typing import Any, ClassVar

from archipel.core.handler import BaseHandler

__all__ = ["BaseSubscriber"]


class BaseSubscriber(BaseHandler):
    """Receives raw dict payloads from a broker stream (anti-corruption layer).

    Subclasses implement ``__call__(self, payload: dict) -> None``.
    """

    _element_kind: ClassVar[str] = "subscriber"

    def __call__(self, payload: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(payload)")
