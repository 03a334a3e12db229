"""A worker short of its share of relay shards or partitions looks once, then tries only the free.

Trying every lease in turn was a transaction per lease at every look (each
relay tick, each maintenance) of every worker short of its share — most of
them for nothing when others hold everything, and more of them with every
worker added. Now one read says which leases others hold; only the rest
are tried, so what is free or expired is still taken at the next look.
"""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archipel.engine import EngineSettings
from archipel.engine.leases import Lease, LeaseStore
from archipel.engine.ownership import Membership, PartitionOwnership
from archipel.engine.relay import OutboxRelay

SHARDS = 4


class CountingLeases(LeaseStore):
    """The domain's lease store, counting the leases it wrote to take them (one by one, or
    together) and its reads of a scope's leases (the database is real)."""

    def __init__(self, domain: Any) -> None:
        super().__init__(domain)
        self.acquired: list[str] = []
        self.looks = 0
        self.together = 0

    def acquire(self, lease_id: str, scope: str, owner: str, seconds: float) -> Lease | None:
        self.acquired.append(lease_id)
        return super().acquire(lease_id, scope, owner, seconds)

    def _acquire_together(self, lease_ids: Any, scope: str, owner: str, seconds: float, limit: int) -> Any:
        self.together += 1
        taken = super()._acquire_together(lease_ids, scope, owner, seconds, limit)
        self.acquired.extend(lease.id for lease in taken or [])
        return taken

    def _scope_rows(self, tx: Any, scope: str) -> list[dict[str, Any]]:
        self.looks += 1
        return super()._scope_rows(tx, scope)


def _relay(bank: Any, leases: LeaseStore, name: str) -> OutboxRelay:
    engine = EngineSettings.from_config(bank.config)
    return OutboxRelay(bank, bank.brokers["default"], leases, engine, name)


def _shard_id(bank: Any, shard: int, database: str = "default") -> str:
    return f"{bank.snake_name}/relay/{database}/{shard}"


def test_a_relay_whose_shards_are_all_held_tries_none_of_them_at_its_looks(make_bank):
    bank = make_bank(config={"command_processing": "sync"}, lease_seconds=5, relay_shards=SHARDS)
    leases = CountingLeases(bank)
    with bank.domain_context():
        # (the default outbox's: the leases of the memory cache's outbox live in that database)
        holds = [leases.acquire(_shard_id(bank, s), "relay", "other", 60) for s in range(SHARDS)]
        leases.acquired.clear()
        relay = _relay(bank, leases, "short")
        for _ in range(5):  # five ticks of a relay without shards (woken by five commits)
            assert relay.tick() == 0
        assert leases.acquired == []  # (one transaction per shard and tick before)
        # one read, not one per tick: the next look is a poll interval away (the leases of the
        # memory cache's outbox live in that database, not in this store)
        assert leases.looks == 1
        assert 0.0 < relay.idle_seconds(1.0) <= relay.settings.blocking_timeout_ms / 1000.0
        # a shard given back is taken at the next look, the others are still not tried
        assert holds[2] is not None
        leases.release(holds[2])
        time.sleep(relay.settings.blocking_timeout_ms / 1000.0)  # the next look is due
        relay.tick()
        assert leases.looks == 2
        assert sorted(relay._owned["default"]) == [2]
        assert leases.acquired == [_shard_id(bank, 2)]
        relay.release()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(SHARDS)), first=st.integers(min_value=1, max_value=SHARDS - 1))
def test_a_relay_that_just_took_shards_looks_again_at_its_next_tick(make_bank, order, first):
    """Shards free up one after the other (a stopping worker gives its leases back in turn):
    a relay short of its share that took some looks again at the next tick, so the ones
    freed just after are relayed then, not a second later (the relay's start after the
    benchmark's go, or a failover, stalled that long on part of the outbox)."""
    bank = make_bank(config={"command_processing": "sync"}, lease_seconds=5, relay_shards=SHARDS)
    leases = CountingLeases(bank)
    with bank.domain_context():
        holds = {("default", s): leases.acquire(_shard_id(bank, s), "relay", "other", 60)
                 for s in range(SHARDS)}
        relay = _relay(bank, leases, "taker")  # no membership: its share is every shard
        freed: list[int] = []
        for shard in order[:first]:
            lease = holds[("default", shard)]
            assert lease is not None
            leases.release(lease)
            freed.append(shard)
        relay.tick()
        assert sorted(relay._owned["default"]) == sorted(freed)
        for shard in order[first:]:  # freed right after that look
            lease = holds[("default", shard)]
            assert lease is not None
            leases.release(lease)
        looks = leases.looks
        relay.tick()  # within the second after the first look
        assert sorted(relay._owned["default"]) == list(range(SHARDS))
        assert leases.looks > looks
        relay.release()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(SHARDS)), first=st.integers(min_value=1, max_value=SHARDS - 1))
def test_a_consumer_that_just_took_partitions_looks_again_at_its_next_turn(make_bank, order, first):
    """The same for a consumer's partitions: short of its share after taking some, its next
    loop turn looks again (not the maintenance a second later), so partitions given back one
    after the other are all read from without a second's gap."""
    import threading

    from archipel.engine.consumer import Consumer
    from archipel.engine.dlq import DeadLetterStore
    from archipel.engine.subscriptions import active_subscriptions

    bank = make_bank(config={"command_processing": "sync"}, lease_seconds=5, partitions=SHARDS)
    leases = CountingLeases(bank)
    with bank.domain_context():
        engine = EngineSettings.from_config(bank.config)
        sub = next(s for s in active_subscriptions(bank) if s.kind == "projector")
        membership = Membership(leases, bank, "taker", engine.lease_seconds)
        consumer = Consumer(bank, sub, bank.brokers["default"], leases, DeadLetterStore(bank), membership,
                            engine, "taker", threading.Event())
        ownership = consumer.ownership
        holds = {p: leases.acquire(ownership.lease_id(p), ownership.scope, "other", 60) for p in range(SHARDS)}
        for partition in order[:first]:
            lease = holds[partition]
            assert lease is not None
            leases.release(lease)
        consumer._cycle()
        assert sorted(ownership.owned) == sorted(order[:first])
        for partition in order[first:]:  # given back right after that look
            lease = holds[partition]
            assert lease is not None
            leases.release(lease)
        consumer._cycle()  # the next turn, within the second
        assert sorted(ownership.owned) == list(range(SHARDS))
        assert not consumer._look_again  # at its share: the next look is a second away again
        consumer.shutdown()


def test_an_expired_lease_of_another_worker_is_taken_at_the_next_look(make_bank):
    bank = make_bank(config={"command_processing": "sync"}, lease_seconds=5, relay_shards=SHARDS)
    leases = CountingLeases(bank)
    with bank.domain_context():
        for shard in range(SHARDS):
            leases.acquire(_shard_id(bank, shard), "relay", "other", 0.05 if shard == 1 else 60)
        relay = _relay(bank, leases, "short")
        time.sleep(0.1)  # shard 1's holder stopped renewing it: its lease ran out
        relay.tick()
        assert sorted(relay._owned["default"]) == [1]
        relay.release()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    held=st.lists(st.sampled_from(["other", "free", "released", "expired"]), min_size=SHARDS, max_size=SHARDS),
    members=st.integers(min_value=1, max_value=4),
)
def test_partitions_short_of_the_share_try_only_what_others_do_not_hold(make_bank, held, members):
    bank = make_bank(config={"command_processing": "sync"}, lease_seconds=5, partitions=SHARDS)
    leases = CountingLeases(bank)
    with bank.domain_context():
        engine = EngineSettings.from_config(bank.config)
        membership = Membership(leases, bank, "me", engine.lease_seconds)
        membership.heartbeat()
        for n in range(1, members):  # other live workers: a share of ceil(4 / members)
            Membership(leases, bank, f"member-{n}", engine.lease_seconds).heartbeat()
        ownership = PartitionOwnership(leases, membership, bank, "Sub", SHARDS, "me", engine.lease_seconds)
        for partition, state in enumerate(held):
            if state == "free":
                continue
            lease = leases.acquire(ownership.lease_id(partition), ownership.scope, "other",
                                   0.01 if state == "expired" else 60)
            if state == "released":
                assert lease is not None
                leases.release(lease)
        if "expired" in held:
            time.sleep(0.05)
        leases.acquired.clear()
        gained = ownership.acquire_missing()
        others = {p for p, state in enumerate(held) if state == "other"}
        takeable = [p for p in range(SHARDS) if p not in others]
        share = ownership.share()
        assert not set(gained) & others  # never one another worker holds
        assert not {ownership.lease_id(p) for p in others} & set(leases.acquired)  # nor tried
        assert len(gained) == min(share, len(takeable))  # all it may take of what is free
        assert len(leases.acquired) == len(gained)  # each try took its lease: none for nothing
        # one read and at most one transaction taking them all (no other worker races it here)
        assert leases.together == (1 if share > 0 else 0)
