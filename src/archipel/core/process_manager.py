"""Process managers (sagas): coordinate a workflow across aggregates and domains.

State is kept per correlation value (``correlate="order_id"``). A handler
marked ``start=True`` creates the instance; events for an unknown or
completed instance are ignored. ``mark_as_complete()`` ends the workflow.
"""

from __future__ import annotations

from typing import Any, ClassVar

from archipel.core.model import BaseModel

__all__ = ["BaseProcessManager"]


class BaseProcessManager(BaseModel):
    """Base class of process managers: fields hold the workflow's state."""

    _element_kind: ClassVar[str] = "process_manager"

    def _after_init(self) -> None:
        object.__setattr__(self, "_is_complete", False)
        object.__setattr__(self, "_correlation_id", None)
        object.__setattr__(self, "_version", -1)

    def _after_load(self) -> None:
        self._after_init()

    def mark_as_complete(self) -> None:
        """End this workflow instance: later events for it are ignored."""
        object.__setattr__(self, "_is_complete", True)

    @property
    def is_complete(self) -> bool:
        return bool(self.__dict__.get("_is_complete"))

    def to_state(self) -> dict[str, Any]:
        """State as stored: fields plus completion."""
        state = self.to_dict()
        state["_is_complete"] = self.is_complete
        return state
