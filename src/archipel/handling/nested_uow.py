"""Nesting: a unit of work begun inside another of the same domain joins it.

Protean 0.18's rule (its ADR-0027), kept so a ported program behaves the same:
there are no savepoints, so a ``UnitOfWork`` started while another of the same
domain is active does not open a transaction of its own. Every read, write and
event goes to the outermost one, which alone commits. The joined one's
``commit()`` does nothing; its ``rollback()`` (or an exception leaving its
block) dooms the whole transaction: the outermost then rolls back instead of
committing, with a warning. An application service's ``@use_case`` and a
command processed synchronously inside a handler join the same way.

A unit of work of *another* domain is not joined: each domain commits its own
storage.
"""

from __future__ import annotations

import logging
from typing import Any

from archipel.errors import InvalidOperationError
from archipel.handling.unit_of_work import JOIN, UnitOfWork

__all__ = ["JoinedUnitOfWork", "doom", "join"]

log = logging.getLogger("archipel.uow")

_DOOMED: dict[type, type] = {}


def join(inner: UnitOfWork, outermost: UnitOfWork) -> None:
    """Make ``inner`` a participant of ``outermost`` until its commit or rollback."""
    inner._token = outermost
    inner.__class__ = JoinedUnitOfWork


def doom(outermost: Any) -> None:
    """Mark ``outermost`` rollback-only: its ``commit()`` rolls back (and warns) instead."""
    cls = type(outermost)
    if getattr(cls, "_archipel_doomed", False):
        return
    outermost.__class__ = _doomed_class(cls)


def _doomed_class(cls: type) -> type:
    found = _DOOMED.get(cls)
    if found is None:

        def commit(self: Any) -> list[Any]:
            log.warning("A nested unit of work was rolled back; the whole transaction is rolled back.")
            self.__class__ = cls
            self.rollback()
            return []

        found = _DOOMED[cls] = type(
            f"Doomed{cls.__name__}",
            (cls,),
            {"__slots__": (), "__module__": __name__, "commit": commit, "_archipel_doomed": True},
        )
    return found


class JoinedUnitOfWork(UnitOfWork):
    """A :class:`UnitOfWork` begun while another of its domain was active: a participant.

    Repositories keep using the outermost unit of work (this one is never made the
    active one); the methods below hand a direct call on to it.
    """

    __slots__ = ()
    _participant = True

    @property
    def outermost(self) -> UnitOfWork:
        """The unit of work this one joined, which commits for both."""
        outer: UnitOfWork = self._token
        return outer

    @property
    def in_progress(self) -> bool:
        """True until this participant's commit or rollback."""
        return self._token is not None

    def commit(self) -> list[Any]:
        """Nothing to do: the outermost unit of work commits everything (no events here)."""
        self._token = None
        return []

    def rollback(self) -> None:
        """Doom the whole transaction: the outermost unit of work will roll back."""
        outer, self._token = self._token, None
        if outer is not None:
            doom(outer)

    # used again once ended: an ordinary unit of work again
    def start(self) -> None:
        self._reuse()
        UnitOfWork.start(self)

    def __enter__(self) -> UnitOfWork:
        self._reuse()
        return UnitOfWork.__enter__(self)

    def _reuse(self) -> None:
        if self._token is not None:
            raise InvalidOperationError("this unit of work is already in progress")
        self.__class__ = UnitOfWork  # type: ignore[assignment]

    # direct calls go to the unit of work that commits
    def track(self, obj: Any, identity: Any) -> None:
        self.outermost.track(obj, identity)

    def remember(self, obj: Any, identity: Any) -> None:
        self.outermost.remember(obj, identity)

    def tracked(self, cls: type, identity: Any) -> Any:
        return self.outermost.tracked(cls, identity)

    def tracked_of(self, cls: type) -> list[Any]:
        return self.outermost.tracked_of(cls)

    def delete(self, schema: Any, identity: Any) -> None:
        self.outermost.delete(schema, identity)

    def transaction(self, database: str = "default") -> Any:
        return self.outermost.transaction(database)

    def after_commit(self, action: Any) -> None:
        self.outermost.after_commit(action)


JOIN[:] = [join]
