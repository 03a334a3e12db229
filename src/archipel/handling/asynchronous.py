"""Asynchronous command submission: the command goes to the outbox, not a handler.

``archipel server`` relays outbox rows to the broker and runs the handler
there. The command is recorded in the event store and the outbox in one
transaction, so an accepted command is never lost. A command issued while a
unit of work of the same domain is active (a handler or process manager
sending a command) joins that unit of work's transaction instead: it is sent
exactly when the handler's effects commit — never for a failed attempt, and
once for a redelivered message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archipel.utils.globals import uow_var

if TYPE_CHECKING:
    from archipel.handling.protocols import DomainLike

__all__ = ["enqueue_command"]


def enqueue_command(domain: DomainLike, command: Any, idempotency_key: str | None = None) -> str:
    """Store ``command`` for asynchronous handling; return its id.

    With ``idempotency_key``, the key is recorded with the command's id in the
    same transaction (a repeat of the key returns that id).
    """
    command._metadata.asynchronous = True
    uow = uow_var.get()
    if uow is not None and uow.domain is domain:
        tx = uow.transaction("default")
        _store(domain, command, tx, idempotency_key)
        return command._metadata.id  # type: ignore[no-any-return]
    database = domain.providers.database("default")
    tx = database.begin()
    try:
        _store(domain, command, tx, idempotency_key)
        tx.commit()
    except BaseException:
        tx.rollback()
        raise
    return command._metadata.id  # type: ignore[no-any-return]


def _store(domain: DomainLike, command: Any, tx: Any, idempotency_key: str | None) -> None:
    domain.providers.event_store.append([command], transaction=tx)
    tx.add_outbox(domain.outbox_records([command]))
    if idempotency_key is not None:
        from archipel.handling import idempotency

        idempotency.record(
            tx, domain._idempotency_schema, idempotency_key, command._metadata.id, domain._idempotency_ttl
        )
