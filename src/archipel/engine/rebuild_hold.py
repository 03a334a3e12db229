"""A projection rebuild holds live delivery to the projection's projectors off.

``archipel projection rebuild`` may run while ``archipel server`` runs (other
processes, other machines). For its duration the rebuild takes the leases
the engine's consumers need to deliver to the projection's projector
subscriptions: every ordering partition lease
(``<domain>/partition/<subscription>/<n>``, :mod:`.ownership`) and the
catch-up lease (:mod:`.catchup`). Taking a partition lease away from the
worker that owns it bumps the lease's version, so that worker's next commit
is refused by its fence and rolled back (it logs "lost partition ... to
another worker"); it cannot take the partition back while the rebuild
renews the lease. Live entries wait on the broker meanwhile.

Order of events: the leases are taken *before* the table is emptied, so
every live batch either committed before (its events are in the event store
and replayed) or is refused. When the rebuild ends, the leases are released;
the workers take the partitions back within a second, claim what was read
and not acknowledged, and go on: entries the rebuild replayed are recognised
by the processed-message records it wrote and skipped, later ones applied
once.

A heartbeat thread renews the leases every third of ``[server]
lease_seconds``. A rebuild killed with -9 leaves them to expire: live
delivery resumes ``lease_seconds`` later, into the half-rebuilt table that
``archipel projection status`` reports as interrupted — run the rebuild
again. A rebuild whose process stalled past its leases (SIGSTOP) loses them;
it then fails with :class:`~archipel.errors.LeaseLostError` (run it again).
Two rebuilds of the same projection at once: the second one fails at once.

Importing this module registers :func:`hold_live_delivery` with
:mod:`archipel.handling.live_delivery`, which the rebuild calls (the engine
package imports it).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from archipel.engine.handler_policy import handler_settings
from archipel.engine.leases import Lease, LeaseStore
from archipel.engine.settings import EngineSettings
from archipel.engine.subscriptions import all_subscriptions, qualified_name
from archipel.errors import ExpectedVersionError, IncorrectUsageError, LeaseLostError
from archipel.handling.live_delivery import register_live_hold

if TYPE_CHECKING:
    from archipel.domain.domain import Domain
    from archipel.engine.subscriptions import Subscription

__all__ = ["REBUILD_OWNER", "LiveHold", "hold_live_delivery"]

log = logging.getLogger("archipel.engine.rebuild_hold")

#: prefix of the owner of the leases a rebuild holds (``rebuild:<host>-<pid>``)
REBUILD_OWNER = "rebuild:"


class LiveHold:
    """The leases a rebuild holds; :meth:`take`, then :meth:`release` (or use :func:`hold_live_delivery`)."""

    def __init__(
        self, domain: Domain, subscriptions: list[tuple[Subscription, EngineSettings]], lease_seconds: float
    ) -> None:
        """``subscriptions``: each with the engine settings it runs with (its partitions)."""
        self.leases = LeaseStore(domain)
        self.seconds = lease_seconds
        self.owner = f"{REBUILD_OWNER}{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"
        self.wanted: list[tuple[str, str]] = []
        for sub, settings in subscriptions:
            scope = f"{domain.snake_name}/partition/{sub.name}"
            self.wanted.append((f"catchup:{sub.name}", "catchup"))
            self.wanted += [(f"{scope}/{n}", scope) for n in range(sub.partitions(settings))]
        self.held: list[Lease] = []
        #: why the hold was lost (None: held)
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self) -> None:
        """Take every lease: waits for a running catch-up to end; seizes partitions from workers.

        Raises :class:`IncorrectUsageError` when another rebuild holds one.
        """
        try:
            for lease_id, scope in self.wanted:
                self.held.append(self._seize(lease_id, scope, wait=scope == "catchup"))
        except BaseException:
            self.release()
            raise
        self._thread = threading.Thread(target=self._heartbeat, name="archipel-rebuild-hold", daemon=True)
        self._thread.start()

    def _seize(self, lease_id: str, scope: str, wait: bool) -> Lease:
        """Write the lease as ours whoever holds it (``wait``: unless it is held and unexpired)."""
        schema, database = self.leases.schema, self.leases.database
        while True:
            now = time.time()
            tx = database.begin()
            try:
                found = tx.get(schema, lease_id)
                owner = found.get("owner") if found else None
                live = found is not None and owner is not None and (found.get("expires_at") or 0) > now
                if live and str(owner).startswith(REBUILD_OWNER) and owner != self.owner:
                    raise IncorrectUsageError(
                        f"another rebuild ({owner}) holds {lease_id}: wait for it to finish"
                    )
                if live and wait and owner != self.owner:
                    tx.rollback()
                    time.sleep(min(0.5, self.seconds / 4))  # a catch-up is running: let it finish
                    continue
                expected = int(found["_version"]) if found else -1
                token = int((found or {}).get("token") or 0) + 1
                expires = now + self.seconds
                record = {"id": lease_id, "scope": scope, "owner": self.owner, "expires_at": expires, "token": token}
                tx.save(schema, record, expected)
                tx.commit()
            except ExpectedVersionError:
                tx.rollback()  # a worker committed meanwhile (its fence renewed it): again
                continue
            except BaseException:
                tx.rollback()
                raise
            if live and not wait:
                log.info("rebuild: took %s from %s; its live delivery waits", lease_id, owner)
            return Lease(lease_id, scope, self.owner, expected + 1, expires, token)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            for lease in self.held:
                try:
                    self.leases.renew(lease, self.seconds)
                except LeaseLostError as exc:
                    self.lost = str(exc)
                    log.error("rebuild: %s; live delivery resumed during the rebuild", exc)
                    return
                except Exception:
                    log.exception("rebuild: renewing %s failed; trying again", lease.id)

    def check(self) -> None:
        """Raise :class:`LeaseLostError` if the hold was lost (the rebuild must be run again)."""
        if self.lost is not None:
            raise LeaseLostError(f"the rebuild lost its hold on live delivery ({self.lost}): run it again")

    def watching(self, progress: Callable[[int, int], None] | None) -> Callable[[int, int], None]:
        """``progress`` (may be None), checking the hold after each batch."""

        def report(position: int, head: int) -> None:
            self.check()
            if progress is not None:
                progress(position, head)

        return report

    def release(self) -> None:
        """Stop renewing and give every lease back: the workers resume within a second."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for lease in self.held:
            try:
                self.leases.release(lease)
            except Exception:
                log.exception("rebuild: releasing %s failed; it expires in %.1fs", lease.id, self.seconds)
        self.held = []


def _projector_subscriptions(domain: Domain, routes: list[Any]) -> list[Subscription]:
    names = {qualified_name(route.handler_cls) for route in routes}
    return [sub for sub in all_subscriptions(domain) if sub.name in names]


@contextmanager
def hold_live_delivery(domain: Any, routes: list[Any]) -> Iterator[LiveHold | None]:
    """Hold live delivery to the projectors of ``routes`` off for the ``with`` block.

    Yields the :class:`LiveHold` (None when events are handled inline: there
    is no live delivery to hold). On a normal exit, raises
    :class:`LeaseLostError` if the hold was lost on the way.
    """
    subscriptions = _projector_subscriptions(domain, routes) if domain.outbox_enabled else []
    if not subscriptions:
        yield None
        return
    base = EngineSettings.from_config(domain.config)
    hold = LiveHold(
        domain,
        [(sub, handler_settings(base, sub.handler_cls._meta.extra)) for sub in subscriptions],  # type: ignore[attr-defined]
        base.lease_seconds,
    )
    hold.take()
    try:
        yield hold
        hold.check()
    finally:
        hold.release()


register_live_hold(hold_live_delivery)
