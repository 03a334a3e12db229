"""The database provider port: a configured database that begins transactions.

Protean calls it ``BaseProvider``; so does archipel (an alias of :class:`Database`).
:data:`registry` (a :class:`ProviderRegistry`) names the databases ``provider = ...``
chooses, as Protean's does: ``registry.register("dynamodb", "my_package.DynamoDatabase")``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from archipel.port.dao import OutboxRecord, Reads, Transaction
from archipel.port.registry import NamedRegistry
from archipel.port.schema import ModelSchema

__all__ = ["BaseProvider", "Database", "OutboxRecord", "ProviderRegistry", "Reads", "Transaction", "registry"]


class Database(Protocol):
    """A configured database (``[databases.<name>]``)."""

    name: str

    def begin(self) -> Transaction: ...

    def reads(self) -> Reads:
        """Reads outside any transaction (a repository's reads outside a unit of work).

        Each ``get``/``query`` sees only committed transactions, each whole;
        one object may serve every thread. Optional: a provider without it
        is read through ``begin()``.
        """
        ...

    def setup(self, schemas: Iterable[ModelSchema]) -> None: ...

    def drop(self, schemas: Iterable[ModelSchema]) -> None: ...

    def truncate(self, schemas: Iterable[ModelSchema]) -> None: ...

    def clear(self, schemas: Iterable[ModelSchema]) -> None:
        """Delete the rows of these tables only (not the outbox nor processed records)."""
        ...

    def outbox(self) -> Any:
        """The :class:`archipel.port.outbox.Outbox` of this database."""
        ...

    def close(self) -> None: ...


#: Protean's name for the database provider port
BaseProvider = Database


class ProviderRegistry(NamedRegistry):
    """The databases by provider name (Protean's ``ProviderRegistry``; see
    :class:`~archipel.port.registry.NamedRegistry`). A registered class is built as
    ``cls(name, settings)`` and implements :class:`Database`."""

    kind = "database"


#: Protean's ``protean.port.provider.registry``
registry = ProviderRegistry()
