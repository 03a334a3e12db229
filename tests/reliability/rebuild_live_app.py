"""A domain whose projection is rebuilt while ``archipel server`` delivers to it.

``python -m tests.reliability.rebuild_live_app <database> <broker> <serve|rebuild>``:
``database`` is an SQLite file path or a ``postgresql...`` URL, ``broker`` is
``database`` or a ``redis://`` URL. ``serve`` runs the engine with two worker
processes; ``rebuild`` rebuilds ``Applied`` slowly (a pause per event), printing
``rebuilt <events>`` at the end.

Each ``Tick`` command stores one ``Ticked`` event with a key of its own; the
projector counts, per key, how many times it was applied (``Applied.times``): a
row missing is an event lost, a count of 2 an event applied twice.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from archipel import (
    BaseAggregate,
    BaseCommand,
    BaseEvent,
    BaseProjection,
    Domain,
    current_domain,
    handle,
)
from archipel.engine import run_server
from archipel.fields import Identifier, Integer

#: [server] lease_seconds: how long live delivery waits for a rebuild killed with -9
LEASE_SECONDS = 1.0


def config(database: str, broker: str) -> dict[str, Any]:
    if database.startswith("postgresql"):
        storage = {"provider": "postgresql", "database_uri": database}
    else:
        storage = {"provider": "sqlite", "database_uri": f"sqlite:///{database}"}
    return {
        "databases": {"default": storage},
        "event_store": {"provider": storage["provider"]},
        "brokers": {"default": {"provider": "database"} if broker == "database" else {"provider": "redis", "URI": broker}},
        "event_processing": "async",
        "server": {
            "partitions": 4,
            "lease_seconds": LEASE_SECONDS,
            "messages_per_tick": 20,
            "stream_subscription": {"blocking_timeout_ms": 50, "max_retries": 2, "retry_delay_seconds": 0.05},
        },
    }


def build(database: str, broker: str, delay: float = 0.0) -> tuple[Domain, Any, Any]:
    """The domain, its ``Tick`` command and its ``Applied`` projection."""
    domain = Domain(name="RebuildLive", config=config(database, broker))

    @domain.aggregate
    class Tally(BaseAggregate):
        key = Identifier()

    @domain.event(part_of=Tally)
    class Ticked(BaseEvent):
        key = Identifier()

    @domain.command(part_of=Tally)
    class Tick(BaseCommand):
        key = Identifier()

    @domain.command_handler(part_of=Tally)
    class Ticking:
        @handle(Tick)
        def tick(self, command: Tick) -> None:
            tally = Tally(key=command.key)
            tally.raise_(Ticked(key=command.key))
            current_domain.repository_for(Tally).add(tally)

    @domain.projection
    class Applied(BaseProjection):
        key = Identifier(identifier=True)
        times = Integer(default=0)

    @domain.projector(projector_for=Applied, aggregates=[Tally])
    class Applying:
        @handle(Ticked)
        def on(self, event: Ticked) -> None:
            if delay:
                time.sleep(delay)
            repo = current_domain.repository_for(Applied)
            row = repo.get_or_none(event.key) or Applied(key=event.key)
            row.times += 1
            repo.add(row)

    domain.init(traverse=False)
    return domain, Tick, Applied


def main(database: str, broker: str, action: str) -> None:
    domain, _, applied = build(database, broker, delay=0.004 if action == "rebuild" else 0.0)
    if action == "serve":
        sys.exit(run_server(domain, workers=2))
    with domain.domain_context():
        result = domain.rebuild_projection(applied, batch_size=20)
    print(f"rebuilt {result.events_dispatched}", flush=True)


if __name__ == "__main__":
    # through the module's name: the projector's subscription is named after its module
    from tests.reliability.rebuild_live_app import main as run

    run(sys.argv[1], sys.argv[2], sys.argv[3])
