"""The outbox relay: moves committed messages from the outbox to the broker.

Each database's outbox is split into ``relay_shards`` relay shards by a
stable hash of the aggregate (the rows' ``shard`` column). One worker at a
time relays a shard (a lease, ``relay/<database>/<shard>``), so each
aggregate's messages are published by one relay, in order, while several
workers — on this machine or others — relay different shards in parallel.
A worker takes its fair share of the shards, ``ceil(shards / live
workers)``, gives back what exceeds it, and takes over the shards of a
worker whose leases expired.

The relay claims rows of its shards (highest priority first, then oldest) with a row
lease meant never to outlive its shard leases (a shard just taken over is claimed from only
once no other worker holds rows of it: a former owner's row lease may reach the database
late, its give-back be in flight), publishes them pipelined — each to the broker stream of
its category, partition and lane — then marks them sent, fenced by the row lease (on
PostgreSQL with the shard leases in the outbox's database: read, not leased, and fenced by
the shard leases, relay_fenced.py). A crash between publishing and marking re-publishes the
rows later: consumers drop the copies through their processed-message records, and a copy
never overtakes the original, so per-aggregate order holds. A publish that raises is given
back whole and published again, in order: the broker promises that it added, of each stream,
at most a prefix of the batch (:mod:`archipel.port.broker`), so no entry lands only after
later entries of its stream.

The holder of shard 0 of an outbox also purges its sent rows after
``outbox_retention_seconds``; that of the default outbox also trims broker
streams (never below what a consumer group still needs).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from archipel.domain.domain import INTEGRATION_PREFIX
from archipel.engine.lanes import lane_of
from archipel.engine.leases import Lease, LeaseStore
from archipel.engine.ownership import Membership
from archipel.engine.relay_direct import DirectPath
from archipel.engine.relay_fenced import FencedMarks
from archipel.engine.relay_leadership import ShardLeadership
from archipel.engine.retry import Backoff
from archipel.engine.settings import EngineSettings
from archipel.engine.streams import broker_stream, category_of, partition_of
from archipel.port.outbox import ShardFence
from archipel.utils import tracing
from archipel.utils.doorbell import FREED, relay_key

if TYPE_CHECKING:
    from archipel.domain.domain import Domain
    from archipel.port.broker import Broker

__all__ = ["OutboxRelay", "route_row"]

log = logging.getLogger("archipel.engine.relay")

#: a message's stored JSON text (encoded claims) back into the message
_decode = msgspec.json.Decoder().decode


class _Claimed(NamedTuple):
    """Rows claimed, and until when (monotonic clock) their lease surely holds; with
    ``encoded``, each row's message is its stored JSON text (``claim_encoded``); with
    ``fence``, the rows were read unleased, to be marked under that fence."""

    rows: list[dict[str, Any]]
    deadline: float
    encoded: bool = False
    fence: ShardFence | None = None


def route_row(row: dict[str, Any], settings: EngineSettings) -> str:
    """The broker stream an outbox row is published to."""
    stream = row["stream"]
    return broker_stream(
        category_of(stream),
        partition_of(stream, settings.partitions),
        settings.partitions,
        lane_of(row.get("priority"), settings.priority_lanes),
    )


class OutboxRelay(ShardLeadership, FencedMarks):
    """Relays the outboxes of one domain's databases (call :meth:`tick` in a loop)."""

    def __init__(
        self,
        domain: Domain,
        broker: Broker,
        leases: LeaseStore,
        settings: EngineSettings,
        worker_id: str,
        streams_to_trim: list[str] | None = None,
        membership: Membership | None = None,
    ) -> None:
        self.domain = domain
        self.broker = broker
        self.leases = leases
        self.settings = settings
        self.worker_id = worker_id
        self.streams_to_trim = streams_to_trim or []
        #: live workers, for the fair share of shards; without it this relay takes them all
        self.membership = membership
        self.shards = settings.relay_shards
        #: the relay shards held, by database
        self._owned: dict[str, dict[int, Lease]] = {}
        self._next_acquire: dict[str, float] = {}
        self._stores: dict[str, tuple[LeaseStore, Membership | None]] = {}
        #: databases where this relay holds fewer shards than its share (it looks for more)
        self._short: set[str] = set()
        self._freed_seen: dict[str, int] = {}  # the last FREED ring acted on, by database
        #: shards just taken, by database, not claimed from while another worker holds rows of them
        #: (a former owner's row lease can outlast its shard lease, its give-back be in flight)
        self._settling: dict[str, set[int]] = {}
        self._offset = zlib.crc32(worker_id.encode()) % self.shards
        self._next_purge = 0.0
        self._next_trim = time.monotonic() + settings.trim_interval_seconds
        #: messages relayed since start (status, tests)
        self.relayed = 0
        #: databases whose last claim may have left claimable rows behind (it was full, or
        #: rows were given back): the loop ticks again at once instead of waiting for a ring
        self._more: set[str] = set()
        self._marker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archipel-relay-mark")
        self._marking: deque[Future[None]] = deque()
        self._claimer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archipel-relay-claim")
        self._prefetch: dict[str, Future[_Claimed]] = {}
        self._start_fencing()  # (relay_fenced.py)
        #: databases where a claim failed midway: what it leased to us is unknown
        self._uncertain: set[str] = set()
        #: integration rows are left out of claims until then (their broker is down)
        self._integration_paused_until = 0.0
        self._integration_backoff = Backoff(base=0.2, cap=10.0)
        #: rows claimed, not published, whose release failed (the database went away):
        #: nothing newer of that database is claimed before they are given back
        self._unreleased: dict[str, list[Any]] = {}
        #: the broker takes payloads as the outbox stores them (JSON text): claims of outboxes
        #: that can return them so (``claim_encoded``) neither decode nor encode a message
        self._publish_encoded: Callable[[list[tuple[str, Any]]], Any] | None = getattr(
            broker, "publish_encoded", None
        )
        #: each database's direct path into the broker, where it has one (relay_direct.py)
        self._direct = DirectPath(domain, broker, settings, lambda row: route_row(row, self.settings))

    def idle_seconds(self, poll_seconds: float) -> float:
        """How long to sleep with nothing to relay: commits ring :data:`OUTBOX` sooner.

        Each database says how long its commits may go unnoticed (``idle_wait``):
        long where every commit rings or notifies, ``poll_seconds`` otherwise.
        """
        # asked first, whatever follows: it starts each database's listener (rows, FREED)
        waits = [
            wait(poll_seconds)
            for database in self.domain.providers.databases.values()
            if getattr(database, "outbox", None) is not None
            and (wait := getattr(database, "idle_wait", None)) is not None
        ]
        if any(self._settling.values()):
            return poll_seconds  # waiting for a former owner's rows: no bell rings
        if self._short:
            # looking for shards (FREED rings when some are given back): until the next look
            return min([poll_seconds] + [self._next_look_in(name) for name in self._short])
        return min(waits, default=poll_seconds)

    def wake_keys(self) -> list[str]:
        """The :data:`~archipel.utils.doorbell.OUTBOX` keys this relay waits on: its relay
        shards' (commits of other shards' rows do not wake it; broad rings do), of the
        databases whose commits ring by shard (``rings_by_shard``: SQL); the others' ring
        broad, so holding every shard of a per-process outbox is no reason to wake for all."""
        databases = self.domain.providers.databases
        return sorted({
            relay_key(shard)
            for name, owned in self._owned.items()
            if owned and getattr(databases.get(name), "rings_by_shard", False)
            for shard in owned
        } | {FREED})  # (shards given back: it looks at once, whatever it holds)

    @property
    def drained(self) -> bool:
        """The last :meth:`tick` claimed everything claimable it saw (fewer rows than a batch,
        none given back): rows that commit later ring :data:`~archipel.utils.doorbell.OUTBOX`,
        so the loop may wait for that rather than tick once more for nothing."""
        return not self._more

    def tick(self) -> int:
        """Relay one batch from each database whose relay this worker leads; return how many."""
        total = 0
        for name, database in self.domain.providers.databases.items():
            outbox_of = getattr(database, "outbox", None)
            if outbox_of is None:
                continue
            outbox = outbox_of()
            owned = self._lead(name, outbox)
            if not owned:
                self._more.discard(name)
                continue
            self._more.add(name)  # until this tick's claim says otherwise
            total += self._relay(name, outbox, owned)
            if 0 in owned:  # (broker streams: trimmed by the holder of the default outbox's shard 0)
                self._housekeeping(outbox, trim=name == self.leases.database_name)
        self.relayed += total
        return total

    def _claim(
        self, name: str, outbox: Any, owned: dict[int, Lease], fence: ShardFence | None = None, skip: tuple[int, ...] = ()
    ) -> _Claimed:
        try:
            return self._claim_rows(outbox, owned, fence, skip)
        except BaseException:
            # the claim may have gone through with its reply lost: rows leased to us that we
            # do not know of, which the next claim would skip while relaying newer ones
            self._uncertain.add(name)
            raise

    def _claim_rows(
        self, outbox: Any, owned: dict[int, Lease], fence: ShardFence | None, skip: tuple[int, ...]
    ) -> _Claimed:
        # a row lease must not outlive the shard leases: a new owner of a shard
        # then sees every row the old one claimed and relays them first, in order
        leases = list(owned.values())
        if not leases:
            return _Claimed([], 0.0)
        row_lease = min(lease.remaining() for lease in leases) - self.settings.lease_seconds / 10
        if row_lease <= 0:
            return _Claimed([], 0.0)
        deadline = time.monotonic() + row_lease
        every = len(owned) >= self.shards
        paused = time.monotonic() < self._integration_paused_until
        if fence is not None:  # read, not leased: marked under the shard leases (relay_fenced.py)
            read: list[dict[str, Any]] = outbox.read_claimable(
                limit=self.settings.relay_batch_size, shards=None if every else sorted(owned),
                of=self.shards, exclude_prefix=INTEGRATION_PREFIX if paused else None, skip=skip,
                encoded=self._publish_encoded is not None,
            )
            return _Claimed(read, deadline, self._publish_encoded is not None, fence)
        claim = getattr(outbox, "claim_encoded", None) if self._publish_encoded is not None else None
        encoded = claim is not None
        if claim is None:
            claim = outbox.claim
        rows: list[dict[str, Any]] = claim(
            self.worker_id,
            limit=self.settings.relay_batch_size,
            lease_seconds=row_lease,
            shards=None if every else sorted(owned),
            of=self.shards,
            exclude_prefix=INTEGRATION_PREFIX if paused else None,
        )
        return _Claimed(rows, deadline, encoded)

    def _relay(self, name: str, outbox: Any, owned: dict[int, Lease]) -> int:
        if name in self._uncertain:
            # give back every row leased to us (marks in flight land first): they are the
            # oldest, claimed again first, so nothing newer overtakes them. Raises while the
            # database is away
            self.flush()
            self._drop_prefetch(name, outbox)
            outbox.release_all(self.worker_id)
            self._uncertain.discard(name)
            self._unreleased.pop(name, None)
        left = self._unreleased.get(name)
        if left:
            # claims skip leased rows: relaying newer rows of their aggregates before these
            # are back would break the order. Raises while the database is away
            outbox.release(left, self.worker_id)
            del self._unreleased[name]
        settling = self._settling.get(name)
        if settling:
            settling &= set(owned)
            if settling and outbox.held_elsewhere(self.worker_id, sorted(settling), self.shards):
                owned = {shard: lease for shard, lease in owned.items() if shard not in settling}
                self._drop_prefetch(name, outbox)  # (it may hold rows of those shards)
                if not owned:
                    self._more.discard(name)  # looked at again after a poll (idle_seconds)
                    return 0
            else:
                settling.clear()
        mover = self._direct.mover(name)
        if mover is not None:  # claim, publish and mark in one transaction (relay_direct.py)
            self._drop_prefetch(name, outbox)
            moved, drained = self._direct.move(mover, owned, self.shards)
            if drained:
                self._more.discard(name)  # as of this move: later commits ring
            return moved
        prefetched = self._prefetch.pop(name, None)
        claimed = prefetched.result() if prefetched is not None else None
        fence = self._fence(name, outbox, owned)
        if claimed is None or not claimed.rows:
            claimed = self._claim(name, outbox, owned, fence, self._skip(name) if fence else ())
        rows = claimed.rows
        if not rows:
            self._more.discard(name)
            return 0
        if claimed.fence is not None:
            self._landed(name, [row["id"] for row in rows], add=True)
        if time.monotonic() > claimed.deadline - self.settings.lease_seconds / 20:
            # stalled (an outage?) until the rows' lease is about to end: another relay may
            # own their shard by now and have published newer rows; publishing these after
            # them would break the order. Give them back; they are claimed again in order
            self._drop_prefetch(name, outbox)
            self._give_back_rows(name, outbox, [row["id"] for row in rows])
            return 0
        if len(rows) >= self.settings.relay_batch_size:
            # a busy outbox: claim the next batch while this one is published
            # (claims come in order and publishing stays sequential: order holds)
            self._prefetch[name] = self._claimer.submit(
                self._claim, name, outbox, dict(owned), fence, self._skip(name) if fence else ()
            )
        else:
            self._more.discard(name)  # drained, unless what follows gives rows back
        integration = [row for row in rows if row["stream"].startswith(INTEGRATION_PREFIX)]
        if integration:
            rows = [row for row in rows if not row["stream"].startswith(INTEGRATION_PREFIX)]
            if claimed.encoded:  # the integration broker takes messages
                integration = [{**row, "message": _decode(row["message"])} for row in integration]
            self._relay_integration(name, outbox, integration, claimed.fence)
            if not rows:
                return len(integration)
        ids = [row["id"] for row in rows]
        try:
            batch = [(route_row(row, self.settings), row["message"]) for row in rows]
            publish: Callable[[list[tuple[str, Any]]], Any] = self.broker.publish_many
            if claimed.encoded and self._publish_encoded is not None:
                publish = self._publish_encoded
            if tracing.tracer is None:
                publish(batch)
            else:
                messages = [row["message"] for row in rows]
                if claimed.encoded:
                    messages = [_decode(message) for message in messages]
                with tracing.publish_span(messages):
                    publish(batch)
        except BaseException as exc:
            self._drop_prefetch(name, outbox)  # the batch claimed ahead must not go first
            self._give_back_rows(name, outbox, ids, error=f"{type(exc).__name__}: {exc}")
            raise
        # marking sent runs behind the next claim and publish: the order on the
        # broker is the publishing order, and a mark that never happens only
        # means the rows are published again (and dropped by consumers)
        while len(self._marking) >= 2:
            self._collect(self._marking.popleft())
        self._marking.append(self._marker.submit(self._mark_sent, name, outbox, ids, claimed.fence))
        return len(ids)

    def _relay_integration(
        self, name: str, outbox: Any, rows: list[dict[str, Any]], fence: ShardFence | None = None
    ) -> None:
        """Publish integration events to their own broker (seed 003).

        When that broker is down the rows are given back, and claims leave
        integration rows out for a growing pause (backoff) while the domain's
        own events go on being relayed. After it, the oldest integration rows
        come first again: they reach the broker in order.
        """
        domain = self.domain
        try:
            broker = domain.providers.broker(domain._integration_broker or "default")
            broker.publish_many([(domain._integration_stream, row["message"]) for row in rows])
        except Exception as exc:
            pause = self._integration_backoff.next()
            self._integration_paused_until = time.monotonic() + pause
            log.warning(
                "relay: the integration broker is unavailable (%s: %s); %d integration "
                "event(s) stay in the outbox and are retried in %.1fs",
                type(exc).__name__,
                exc,
                len(rows),
                pause,
            )
            self._drop_prefetch(name, outbox)  # it may hold newer integration rows
            self._give_back_rows(name, outbox, [row["id"] for row in rows])
            return
        self._integration_backoff.reset()
        ids = [row["id"] for row in rows]
        self._marking.append(self._marker.submit(self._mark_sent, name, outbox, ids, fence))

    @staticmethod
    def _collect(marking: Future[None]) -> None:
        try:
            marking.result()
        except Exception:
            log.exception("relay: marking rows sent failed; they will be published again")

    def flush(self) -> None:
        """Wait until every published batch is marked sent."""
        while self._marking:
            self._collect(self._marking.popleft())

    def _drop_prefetch(self, name: str, outbox: Any) -> None:
        """Give back a batch claimed ahead that will not be published by this worker."""
        prefetched = self._prefetch.pop(name, None)
        if prefetched is None:
            return
        try:
            rows = prefetched.result().rows
        except Exception:
            log.exception("relay: claiming ahead failed")
            return
        if rows:
            self._give_back_rows(name, outbox, [row["id"] for row in rows])

    def _give_back_rows(self, name: str, outbox: Any, ids: list[Any], error: str | None = None) -> None:
        """Release claimed rows; if the database is away, keep them to release before claiming again."""
        self._more.add(name)  # claimable again: the loop must not wait for a ring to see them
        self._landed(name, ids)  # (fenced relaying: read again, first)
        try:
            outbox.release(ids, self.worker_id, error=error)
        except Exception as exc:
            log.warning("relay: giving back %d claimed rows failed (%s); retried first", len(ids), exc)
            self._unreleased.setdefault(name, []).extend(ids)

    def _housekeeping(self, outbox: Any, trim: bool = True) -> None:
        now = time.monotonic()
        if now >= self._next_purge:
            self._next_purge = now + max(1.0, self.settings.outbox_retention_seconds / 10)
            try:
                outbox.purge_sent(self.settings.outbox_retention_seconds)
            except Exception:
                log.exception("relay: purging sent outbox rows failed")
        if trim and now >= self._next_trim and self.streams_to_trim:
            self._next_trim = now + self.settings.trim_interval_seconds
            for stream in self.streams_to_trim:
                try:
                    self.broker.trim(stream)
                except Exception:
                    log.exception("relay: trimming %s failed", stream)

    def release(self) -> None:
        """Finish marking, then give up every leadership (graceful shutdown)."""
        for name in list(self._prefetch):
            self._drop_prefetch(name, self.domain.providers.database(name).outbox())
        for name, ids in list(self._unreleased.items()):
            try:
                self.domain.providers.database(name).outbox().release(ids, self.worker_id)
            except Exception:
                log.warning("relay: %d claimed rows stay leased until their lease expires", len(ids))
        self._unreleased.clear()
        self.flush()
        self._marker.shutdown(wait=True)
        self._marker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archipel-relay-mark")
        for name, owned in self._owned.items():
            self._give_up_shards(name, list(owned))
        self._leave_stores()
        self._owned.clear()
        self._next_acquire.clear()
