"""Prometheus metrics of the engine and of a domain's storage (extra ``metrics``).

Nothing here runs per message. Counters are plain integers the consumers
keep anyway (``handled``, retries, dead letters) and are read when Prometheus
scrapes; the only per-batch cost with metrics on is one histogram
observation per committed transaction (and one ``is None`` test with them
off). Gauges (lag, backlog, DLQ size) are computed at scrape time.

Metrics (every one labelled ``domain``; per subscription also ``subscription``):

- ``archipel_messages_handled_total``: messages handled and committed
- ``archipel_messages_failed_total``: failed handling attempts (each retry's failure counts)
- ``archipel_messages_retried_total``: retries scheduled after a failure
- ``archipel_messages_dead_lettered_total``: messages given up on (dead-lettered or dropped)
- ``archipel_batch_handling_seconds`` (histogram): time to handle and commit one
  transaction of messages (a batch; one message when retried alone)
- ``archipel_subscription_lag``: messages not yet delivered to the subscription (broker head − position)
- ``archipel_subscription_pending``: messages delivered and not yet acknowledged
- ``archipel_dead_letters``: dead letters waiting (DLQ size)
- ``archipel_outbox_backlog``: outbox rows not yet relayed to the broker
- ``archipel_outbox_relayed_total``: outbox rows relayed by this process
- ``archipel_relay_lag_seconds``: how long the relay has had a backlog (0 when caught up)
- ``archipel_workers``: engine workers running in this process
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from archipel.errors import ConfigurationError

if TYPE_CHECKING:
    from archipel.domain.domain import Domain
    from archipel.engine.worker import Worker

__all__ = ["MetricsServer", "domain_registry", "engine_registry", "serve_metrics"]

log = logging.getLogger("archipel.engine.metrics")

#: latency buckets (seconds): sub-millisecond in-memory batches to multi-second ones
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ConfigurationError(
            f"metrics need prometheus-client ({exc}): pip install 'archipel[metrics]'"
        ) from exc
    return prometheus_client


class _DomainCollector:
    """Gauges read from a domain's storage and broker at each scrape."""

    def __init__(self, domains: Sequence[Domain]) -> None:
        self.domains = list(domains)

    def describe(self) -> list[Any]:
        return []  # computed at scrape time; never collected at registration

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from archipel.engine.status import subscription_status

        lag = GaugeMetricFamily(
            "archipel_subscription_lag", "Messages not yet delivered to the subscription",
            labels=["domain", "subscription"],
        )
        pending = GaugeMetricFamily(
            "archipel_subscription_pending", "Messages delivered and not yet acknowledged",
            labels=["domain", "subscription"],
        )
        dead = GaugeMetricFamily(
            "archipel_dead_letters", "Dead letters waiting", labels=["domain", "subscription"]
        )
        backlog = GaugeMetricFamily(
            "archipel_outbox_backlog", "Outbox rows not yet relayed", labels=["domain"]
        )
        for domain in self.domains:
            try:
                with domain.domain_context():
                    rows = subscription_status(domain)
                    outbox = _outbox_pending(domain)
            except Exception:
                log.exception("metrics: the status of %s could not be read", domain.name)
                continue
            for row in rows:
                labels = [domain.name, row.name]
                if row.lag is not None:
                    lag.add_metric(labels, row.lag)
                if row.pending is not None:
                    pending.add_metric(labels, row.pending)
                if row.dlq_depth is not None:
                    dead.add_metric(labels, row.dlq_depth)
            if outbox is not None:
                backlog.add_metric([domain.name], outbox)
        yield from (lag, pending, dead, backlog)


def _outbox_pending(domain: Domain) -> int | None:
    total, known = 0, False
    for database in domain.providers.databases.values():
        outbox_of = getattr(database, "outbox", None)
        if outbox_of is not None:
            total += int(outbox_of().pending_count())
            known = True
    return total if known else None


class _WorkerCollector:
    """Counters of the workers running in this process, read at each scrape."""

    def __init__(self, domain: Domain, workers: Callable[[], Sequence[Worker]]) -> None:
        self.domain = domain
        self.workers = workers

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        labels = ["domain", "subscription"]
        handled = CounterMetricFamily(
            "archipel_messages_handled", "Messages handled and committed", labels=labels
        )
        failed = CounterMetricFamily(
            "archipel_messages_failed", "Failed handling attempts", labels=labels
        )
        retried = CounterMetricFamily(
            "archipel_messages_retried", "Retries scheduled after a failure", labels=labels
        )
        given_up = CounterMetricFamily(
            "archipel_messages_dead_lettered", "Messages given up on", labels=labels
        )
        relayed = CounterMetricFamily(
            "archipel_outbox_relayed", "Outbox rows relayed by this process", labels=["domain"]
        )
        relay_lag = GaugeMetricFamily(
            "archipel_relay_lag_seconds", "How long the relay has had a backlog", labels=["domain"]
        )
        workers = list(self.workers())
        totals: dict[str, list[int]] = {}
        for worker in workers:
            for consumer in worker.consumers:
                row = totals.setdefault(consumer.sub.name, [0, 0, 0, 0])
                fails = consumer.failures
                row[0] += consumer.handled
                row[1] += fails.retried + fails.failed_for_good
                row[2] += fails.retried
                row[3] += fails.failed_for_good
        for name, (ok, bad, again, gone) in sorted(totals.items()):
            handled.add_metric([self.domain.name, name], ok)
            failed.add_metric([self.domain.name, name], bad)
            retried.add_metric([self.domain.name, name], again)
            given_up.add_metric([self.domain.name, name], gone)
        relays = [w for w in workers if w.relay is not None]
        relayed.add_metric([self.domain.name], sum(w.relay.relayed for w in relays if w.relay))
        now = time.monotonic()
        lags = [now - w.relay_behind_since for w in relays if w.relay_behind_since is not None]
        relay_lag.add_metric([self.domain.name], max(lags, default=0.0))
        count = GaugeMetricFamily(
            "archipel_workers", "Engine workers running in this process", labels=["domain"]
        )
        count.add_metric([self.domain.name], sum(1 for w in workers if w.alive))
        yield from (handled, failed, retried, given_up, relayed, relay_lag, count)


def domain_registry(domains: Sequence[Domain]) -> Any:
    """A registry with the storage gauges of ``domains`` (the observatory's ``/metrics``)."""
    prometheus = _prometheus()
    registry = prometheus.CollectorRegistry(auto_describe=False)
    registry.register(_DomainCollector(domains))
    return registry


def engine_registry(domain: Domain, workers: Callable[[], Sequence[Worker]]) -> Any:
    """The server's registry: storage gauges, worker counters, and a latency histogram.

    Sets each worker consumer's ``latency`` to its histogram child, so that
    :meth:`PartitionRunner.commit <archipel.engine.partition_run.PartitionRunner.commit>` observes every committed batch.
    """
    prometheus = _prometheus()
    registry = prometheus.CollectorRegistry(auto_describe=False)
    registry.register(_DomainCollector([domain]))
    registry.register(_WorkerCollector(domain, workers))
    histogram = prometheus.Histogram(
        "archipel_batch_handling_seconds",
        "Time to handle and commit one transaction of messages",
        ["domain", "subscription"],
        registry=registry,
        buckets=BUCKETS,
    )
    for worker in workers():
        for consumer in worker.consumers:
            consumer.latency = histogram.labels(domain.name, consumer.sub.name)
    return registry


class MetricsServer:
    """``/metrics`` of one registry on ``host:port`` in a daemon thread (see :func:`serve_metrics`)."""

    def __init__(self, registry: Any, port: int, host: str) -> None:
        self._server, self._thread = _prometheus().start_http_server(port, addr=host, registry=registry)
        self.host = host
        self.port = int(self._server.server_address[1])
        log.info("metrics on http://%s:%d/metrics", host, self.port)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)


def serve_metrics(registry: Any, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serve ``registry`` at ``http://host:port/metrics`` (port 0: a free one) until ``stop()``."""
    return MetricsServer(registry, port, host)
