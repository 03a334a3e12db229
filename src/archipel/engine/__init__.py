"""The async engine: outbox relay, subscriptions, retries, dead letters, lanes, health.

Entry points:

- :func:`run_server` — ``archipel server``: run one domain's engine until SIGTERM.
- :func:`archipel.engine.dlq.dead_letter_store` — ``archipel dlq``.
- :func:`archipel.engine.status.subscription_status` — ``archipel subscriptions status``.
- :mod:`archipel.engine.lanes` — ``with lanes.bulk(): ...`` for bulk work.

How a message travels (async processing): the unit of work writes it to the
outbox in the business transaction; the relay (:mod:`.relay`) publishes it
to the broker stream of its category, partition and lane; the consumer of
each subscription (:mod:`.consumer`) handles it in a batch transaction that
also records it as processed and fences the partition lease; then acks it.
A failing handler's error is classified (:mod:`.classify`): transient ones
are retried with backoff, the rest dead-lettered at once. At start the
server waits for its database and broker (:mod:`.startup`).
"""

# registers how a projection rebuild holds live delivery off (handling.live_delivery)
from archipel.engine import rebuild_hold  # noqa: F401
from archipel.engine.server import run_server
from archipel.engine.settings import EngineSettings
from archipel.engine.worker import Worker

__all__ = ["run_server", "EngineSettings", "Worker"]
