"""A rebuild holds live delivery to its projection's projectors off (engine/rebuild_hold.py).

During the rebuild every partition lease of the projector's subscription is
the rebuild's, taken even from a worker holding it; afterwards they are free
at once; a second rebuild of the same projection fails while the first holds
them; a rebuild whose leases were taken over by a worker fails rather than
finishing beside live delivery; with inline event processing nothing is held.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from archipel import BaseAggregate, BaseEvent, BaseProjection, Domain, current_domain, handle
from archipel.engine.leases import LeaseStore
from archipel.engine.rebuild_hold import REBUILD_OWNER, hold_live_delivery
from archipel.engine.subscriptions import all_subscriptions
from archipel.errors import IncorrectUsageError, LeaseLostError
from archipel.fields import Identifier, Integer
from archipel.handling.rebuild import projector_routes, rebuild_projection, rebuild_records


def _build(tmp_path: Path, kind: str, processing: str = "async", lease_seconds: float = 5.0) -> tuple[Domain, Any, Any]:
    if kind == "memory":
        database: dict[str, Any] = {"provider": "memory"}
        broker: dict[str, Any] = {"provider": "inline"}
    else:
        database = {"provider": "sqlite", "database_uri": f"sqlite:///{tmp_path}/hold.db"}
        broker = {"provider": "database"}
    domain = Domain(
        name=f"Hold{uuid.uuid4().hex[:6]}",
        config={
            "databases": {"default": database},
            "event_store": {"provider": database["provider"]},
            "brokers": {"default": broker},
            "event_processing": processing,
            "server": {"partitions": 3, "lease_seconds": lease_seconds},
        },
    )

    @domain.aggregate
    class Tally(BaseAggregate):
        key = Identifier()

    @domain.event(part_of=Tally)
    class Ticked(BaseEvent):
        key = Identifier()

    @domain.projection
    class Applied(BaseProjection):
        key = Identifier(identifier=True)
        times = Integer(default=0)

    @domain.projector(projector_for=Applied, aggregates=[Tally])
    class Applying:
        @handle(Ticked)
        def on(self, event: Ticked) -> None:
            repo = current_domain.repository_for(Applied)
            row = repo.get_or_none(event.key) or Applied(key=event.key)
            row.times += 1
            repo.add(row)

    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
        stored = []
        for n in range(30):
            tally = Tally(key=f"k{n}")
            tally.raise_(Ticked(key=f"k{n}"))
            stored.extend(tally._events)
        domain.event_store.append(stored)
    return domain, Applied, Applying


def _scope(domain: Domain) -> str:
    projector = next(s for s in all_subscriptions(domain) if s.kind == "projector")
    return f"{domain.snake_name}/partition/{projector.name}"


@pytest.fixture(params=["memory", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_during_a_rebuild_the_partitions_are_the_rebuilds_even_taken_from_a_worker_then_free(
    kind: str, tmp_path: Path
) -> None:
    domain, applied, _ = _build(tmp_path, kind)
    scope = _scope(domain)
    seen: list[list[str]] = []
    with domain.domain_context():
        leases = LeaseStore(domain)
        worker = leases.acquire(f"{scope}/1", scope, "worker-a", 60.0)  # a live worker owns partition 1
        assert worker is not None

        def progress(position: int, head: int) -> None:
            seen.append(sorted(str(r["owner"]) for r in leases.live(scope)))

        result = rebuild_projection(domain, applied, batch_size=10, progress=progress)
        assert result.events_dispatched == 30
        assert seen and all(len(owners) == 3 and all(o.startswith(REBUILD_OWNER) for o in owners) for owners in seen)
        assert leases.live(scope) == []  # released: the workers take them back at once
        with pytest.raises(LeaseLostError):  # the worker's next commit is refused by its fence
            leases.renew(worker, 60.0)
        assert {row.times for row in domain.query_for(applied).all().items} == {1}


def test_a_second_rebuild_of_the_same_projection_fails_while_the_first_holds(kind: str, tmp_path: Path) -> None:
    domain, applied, _ = _build(tmp_path, kind)
    errors: list[BaseException] = []

    def second() -> None:
        with domain.domain_context():
            try:
                rebuild_projection(domain, applied)
            except BaseException as exc:
                errors.append(exc)

    with domain.domain_context(), hold_live_delivery(domain, projector_routes(domain, applied)) as hold:
        assert hold is not None
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(30)
    assert len(errors) == 1 and isinstance(errors[0], IncorrectUsageError)
    assert "another rebuild" in str(errors[0])
    with domain.domain_context():  # once the first is done, it may run
        assert rebuild_projection(domain, applied).events_dispatched == 30


def test_a_rebuild_whose_leases_a_worker_took_over_fails(tmp_path: Path) -> None:
    domain, applied, _ = _build(tmp_path, "sqlite", lease_seconds=0.3)
    scope = _scope(domain)
    with domain.domain_context():
        leases = LeaseStore(domain)
        schema = leases.schema

        def stall(position: int, head: int) -> None:
            if position > 10:
                return
            # as if this process had stalled past its lease and a worker had taken partition 0
            tx = leases.database.begin()
            found = tx.get(schema, f"{scope}/0")
            record = {k: v for k, v in found.items() if k != "_version"}
            tx.save(schema, {**record, "owner": "worker-b", "expires_at": time.time() + 60}, found["_version"])
            tx.commit()
            time.sleep(1.0)  # the heartbeat (every lease_seconds / 3) finds the lease gone

        with pytest.raises(LeaseLostError, match="run it again"):
            rebuild_projection(domain, applied, batch_size=10, progress=stall)
        assert rebuild_records(domain)["Applied"]["state"] == "failed"


def test_with_inline_event_processing_nothing_is_held(kind: str, tmp_path: Path) -> None:
    domain, applied, _ = _build(tmp_path, kind, processing="sync")
    with domain.domain_context(), hold_live_delivery(domain, projector_routes(domain, applied)) as hold:
        assert hold is None
