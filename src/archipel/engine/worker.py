"""One engine worker: the outbox relay and a consumer per active subscription, in threads.

Threads, not asyncio: handlers are ordinary blocking code, and the time
goes to database and broker round trips, which release the GIL. Several
workers — threads of one process on the memory database, processes, or
machines — cooperate through leases only (:mod:`.ownership`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from archipel.engine.consumer import Consumer
from archipel.engine.dlq import DeadLetterStore
from archipel.engine.handler_policy import handler_settings
from archipel.engine.leases import LeaseStore
from archipel.engine.ownership import Membership
from archipel.engine.relay import OutboxRelay
from archipel.engine.relay_leadership import announce_freed
from archipel.engine.retry import Backoff
from archipel.engine.settings import EngineSettings
from archipel.engine.subscriptions import active_subscriptions
from archipel.errors import ArchipelError, BrokerUnavailable, DatabaseUnavailable
from archipel.utils.doorbell import BROKER, OUTBOX, bell, relay_waiting

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["Worker", "new_worker_id"]

log = logging.getLogger("archipel.engine.worker")


def new_worker_id() -> str:
    """``<host>-<pid>-<random>``: unique per worker, readable in ``XINFO CONSUMERS``."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Relay + consumers of one domain; :meth:`start`, then :meth:`stop` (or set ``stop_event``)."""

    def __init__(
        self,
        domain: Domain,
        settings: EngineSettings | None = None,
        *,
        worker_id: str | None = None,
        stop_event: threading.Event | None = None,
    ) -> None:
        self.domain = domain
        self.settings = settings or EngineSettings.from_config(domain.config)
        self.worker_id = worker_id or new_worker_id()
        self.stop_event = stop_event or threading.Event()
        self.broker = domain.providers.broker("default")
        self.leases = LeaseStore(domain)
        self.dlq = DeadLetterStore(domain)
        self.membership = Membership(
            self.leases, domain, self.worker_id, self.settings.lease_seconds, self.settings.relay_weight
        )
        self.subscriptions = active_subscriptions(domain)
        self.consumers = [
            Consumer(
                domain, sub, self.broker, self.leases, self.dlq, self.membership,
                handler_settings(self.settings, sub.handler_cls._meta.extra),  # type: ignore[attr-defined]
                self.worker_id, self.stop_event,
            )
            for sub in self.subscriptions
        ]
        trim = sorted({s for sub in self.subscriptions for s in sub.broker_streams(self.settings)})
        relays = domain.outbox_enabled or domain.config.get("command_processing") == "async"
        self.relay = (
            OutboxRelay(
                domain, self.broker, self.leases, self.settings, self.worker_id, trim, self.membership
            )
            if relays
            else None
        )
        self._threads: list[threading.Thread] = []
        self.started_at = 0.0
        #: monotonic time since which the relay keeps finding rows to move (None: caught up)
        self.relay_behind_since: float | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> Worker:
        self.started_at = time.time()
        self._reserve_connections()
        try:
            self.membership.heartbeat()
        except (DatabaseUnavailable, BrokerUnavailable) as exc:
            # gone since the server found it reachable (a restart): the heartbeat thread joins
            # the group once it is back, as the other threads wait for it; exiting here lost
            # a worker process to an outage the running ones ride out
            log.warning("worker %s: joining the worker group failed, retrying: %s", self.worker_id, exc)
        self._spawn("heartbeat", self._heartbeat_loop)
        if self.relay is not None:
            self._spawn("relay", self._relay_loop)
        for consumer in self.consumers:
            self._spawn(consumer.sub.handler_cls.__name__, self._consumer_loop(consumer))
        if self.domain.registry.of_kind("process_manager"):
            self._spawn("deadlines", self._deadline_loop)
        log.info(
            "worker %s: %d subscription(s)%s", self.worker_id, len(self.consumers),
            ", outbox relay" if self.relay is not None else "",
        )
        return self

    def _reserve_connections(self) -> None:
        """Have the SQL pools keep as many idle connections as this worker's threads may
        borrow at once (relay and its claim and mark threads, heartbeat, deadlines, each
        consumer's reading thread and partition runs): a smaller pool would close and open
        connections at every peak."""
        threads = 5 + sum(1 + consumer.ownership.partitions for consumer in self.consumers)
        holders = [*self.domain.providers.databases.values(), self.broker]
        for holder in holders:
            engine: Any = getattr(holder, "engine", None)
            keep_idle = getattr(engine, "keep_idle", None)
            if keep_idle is None:
                continue
            keep_idle(threads)
            # and opened now, not by each thread's first batch when the work arrives (a server
            # process started per connection, in the middle of the first batches)
            try:
                engine.open_idle(threads)
            except Exception as exc:  # the database is away: the threads open them when it is back
                log.warning("worker %s: opening connections failed: %s", self.worker_id, exc)

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=f"archipel-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _consumer_loop(self, consumer: Consumer) -> Any:
        domain = self.domain

        def run() -> None:
            with domain.domain_context():
                consumer.run()

        return run

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop every thread (in-flight batches finish); True when all stopped in time."""
        self.stop_event.set()
        bell(OUTBOX).ring()  # wake the relay (and the other relays of this process: harmless)
        bell(BROKER).ring()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stopped = not any(t.is_alive() for t in self._threads)
        self.membership.leave()
        # the other workers' shares of the relay shards grow: their relays look at once
        announce_freed(self.domain, self.leases.database_name)
        return stopped

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # -- loops -------------------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        backoff = Backoff()
        interval = self.settings.lease_seconds / 4
        while not self.stop_event.wait(interval):
            try:
                self.membership.heartbeat()
                backoff.reset()
            except ArchipelError as exc:
                log.warning("worker %s: heartbeat failed: %s", self.worker_id, exc)
                self.stop_event.wait(backoff.next())

    def _deadline_loop(self) -> None:
        """Fire due process-manager deadlines (each once: see :mod:`archipel.handling.deadlines`)."""
        from archipel.handling.deadline_firing import fire_due_deadlines

        backoff = Backoff()
        with self.domain.domain_context():
            while not self.stop_event.wait(self.settings.deadline_poll_seconds):
                try:
                    fire_due_deadlines(self.domain)
                    backoff.reset()
                except Exception:
                    delay = backoff.next()
                    log.exception("deadlines: unexpected error; retrying in %.1fs", delay)
                    self.stop_event.wait(delay)

    def _relay_loop(self) -> None:
        relay = self.relay
        assert relay is not None
        backoff = Backoff()
        poll = self.settings.blocking_timeout_ms / 1000.0
        doorbell = bell(OUTBOX)
        relay_waiting(relay.shards)  # commits ring the relay shards of their rows, as it counts them
        try:
            with self.domain.domain_context():
                while not self.stop_event.is_set():
                    # read before looking: a commit after the look rings a later generation
                    seen = doorbell.generation
                    try:
                        moved = relay.tick()
                        backoff.reset()
                    except ArchipelError as exc:
                        delay = backoff.next()
                        log.warning("relay: %s; retrying in %.1fs", exc, delay)
                        self.stop_event.wait(delay)
                        continue
                    except Exception:
                        delay = backoff.next()
                        log.exception("relay: unexpected error; retrying in %.1fs", delay)
                        self.stop_event.wait(delay)
                        continue
                    if not moved or relay.drained:
                        self.relay_behind_since = None
                        # push, not poll: a commit with outbox rows wakes us (see wakeup.py);
                        # having claimed all it saw, the relay waits too (no claim for nothing)
                        doorbell.wait(seen, relay.idle_seconds(poll), relay.wake_keys())
                    elif self.relay_behind_since is None:
                        self.relay_behind_since = time.monotonic()
        finally:
            relay_waiting(relay.shards, waiting=False)
            relay.release()

    # -- reporting ---------------------------------------------------------------
    def outbox_pending(self) -> int:
        total = 0
        for database in self.domain.providers.databases.values():
            outbox_of = getattr(database, "outbox", None)
            if outbox_of is not None:
                total += int(outbox_of().pending_count())
        return total

    def idle(self) -> bool:
        """Nothing buffered, nothing to relay, every partition owned, no lag or pending
        entries, no process-manager deadline due."""
        if self.relay is not None and self.outbox_pending():
            return False
        for consumer in self.consumers:
            if consumer.buffered():
                return False
            if len(consumer.ownership.owned) < consumer.ownership.partitions:
                return False
            for stream in consumer.sub.broker_streams(self.settings):
                if self.broker.lag(stream, consumer.group) or self.broker.pending(stream, consumer.group):
                    return False
        if self.domain.registry.of_kind("process_manager"):
            from archipel.handling.deadlines import pending_deadlines

            now = time.time()
            if any((d.get("due_at") or 0) <= now and d.get("state") == "pending"
                   for d in pending_deadlines(self.domain)):
                return False  # a due deadline is about to fire
        return True

    def report(self) -> dict[str, Any]:
        """Counters for the health endpoint (no configuration, no secrets)."""
        return {
            "worker": self.worker_id,
            "uptime_seconds": round(time.time() - self.started_at, 1) if self.started_at else 0,
            "relayed": self.relay.relayed if self.relay is not None else None,
            "subscriptions": [
                {
                    "name": c.sub.name,
                    "partitions": sorted(c.ownership.owned),
                    "handled": c.handled,
                    "dead_lettered": c.failures.dead_lettered,
                    "buffered": c.buffered(),
                }
                for c in self.consumers
            ],
        }
