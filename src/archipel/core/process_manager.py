"""Process managers (sagas): coordinate a workflow across aggregates and domains.

State is kept per correlation value (``correlate="order_id"``). A handler
marked ``start=True`` creates the instance; events for an unknown or
completed instance are ignored. ``mark_as_complete()`` ends the workflow.
"""

from __future__ import annotations

import datetime as _dt
import time
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

    @classmethod
    def handle_error(cls, exc: BaseException, message: Any) -> None:
        """Called by ``archipel server`` each time handling ``message`` fails (see
        :meth:`archipel.core.handler.BaseHandler.handle_error`). Does nothing by default."""

    def mark_as_complete(self) -> None:
        """End this workflow instance: later events for it are ignored."""
        object.__setattr__(self, "_is_complete", True)

    # -- deadlines and compensations (stored by the handling layer after the handler) --
    def schedule(
        self, message: Any, *, after: _dt.timedelta | float | None = None, at: _dt.datetime | None = None
    ) -> None:
        """Deliver ``message`` (an event this process manager handles) to this instance later.

        ``after`` a delay (a ``timedelta`` or seconds) or ``at`` a moment (naive means
        UTC). Durable: stored with this instance's state when the handler's unit of
        work commits; fired once by ``archipel server`` (or ``domain.fire_due_deadlines()``);
        withdrawn by :meth:`cancel_deadlines` (a completed instance ignores it).
        """
        if (after is None) == (at is None):
            from archipel.errors import IncorrectUsageError

            raise IncorrectUsageError("schedule(message, after=...) or schedule(message, at=...): one of them")
        if at is not None:
            due = (at if at.tzinfo is not None else at.replace(tzinfo=_dt.UTC)).timestamp()
        else:
            seconds = after.total_seconds() if isinstance(after, _dt.timedelta) else float(after)  # type: ignore[arg-type]
            due = time.time() + seconds
        self.__dict__.setdefault("_deadlines", []).append((message, due))

    def cancel_deadlines(self, *message_classes: type) -> None:
        """Withdraw this instance's pending deadlines (of these event classes, or all)."""
        cancel: set[Any] = self.__dict__.setdefault("_cancel_deadlines", set())
        if not message_classes:
            cancel.add(None)
        for cls in message_classes:
            cancel.add(cls._meta.type_string)  # type: ignore[attr-defined]

    def add_compensation(self, command: Any) -> None:
        """Record a command that undoes the step just taken (see :meth:`compensate`)."""
        self.__dict__.setdefault("_compensations", []).append(command)

    def compensations(self) -> list[Any]:
        """The recorded compensation commands not yet used, the latest first."""
        source = self.__dict__.get("_compensation_source")
        return [command for _, command in source()] if source is not None else []

    def compensate(self) -> list[Any]:
        """Process the recorded compensation commands, latest first, each once; return them.

        The commands are processed like ``current_domain.process(command)``
        (this process manager's domain) and marked used when this handler's
        unit of work commits.
        """
        source = self.__dict__.get("_compensation_source")
        process = self.__dict__.get("_process")
        if source is None or process is None:
            return []
        used: set[str] = self.__dict__.setdefault("_compensations_used", set())
        done = []
        for row_id, command in source():
            if row_id in used:
                continue
            process(command)
            used.add(row_id)
            done.append(command)
        return done

    @property
    def is_complete(self) -> bool:
        return bool(self.__dict__.get("_is_complete"))

    def to_state(self) -> dict[str, Any]:
        """State as stored: fields plus completion."""
        state = self.to_dict()
        state["_is_complete"] = self.is_complete
        return state
