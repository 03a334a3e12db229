"""The database provider port: a configured database that begins transactions.

Protean calls it ``BaseProvider``; so does archipel (an alias of :class:`Database`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from archipel.port.dao import OutboxRecord, Transaction
from archipel.port.schema import ModelSchema

__all__ = ["BaseProvider", "Database", "OutboxRecord", "Transaction"]


class Database(Protocol):
    """A configured database (``[databases.<name>]``)."""

    name: str

    def begin(self) -> Transaction: ...

    def setup(self, schemas: Iterable[ModelSchema]) -> None: ...

    def drop(self, schemas: Iterable[ModelSchema]) -> None: ...

    def truncate(self, schemas: Iterable[ModelSchema]) -> None: ...

    def outbox(self) -> Any:
        """The :class:`archipel.port.outbox.Outbox` of this database."""
        ...

    def close(self) -> None: ...


#: Protean's name for the database provider port
BaseProvider = Database
