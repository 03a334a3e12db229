"""``run_server``: run the engine for one domain until SIGTERM/SIGINT.

With ``workers=1`` (or an in-process store: the memory database or the
inline broker, which other processes cannot see) the workers are threads of
this process. Otherwise the server forks ``workers`` processes and
supervises them: a worker that dies is restarted, SIGTERM is passed on, and
the exit code is 0 when every worker stopped cleanly.

Graceful shutdown: on SIGTERM each consumer finishes its in-flight batch
(commit and ack) and gives its partitions back; what it had read but not
handled stays pending on the broker and the next owner takes it over; the
relay finishes its publish-and-mark step.

Start: a database or broker that is not reachable yet is waited for, with
capped exponential backoff (:mod:`.startup`); a signal while waiting exits
with 0. Nothing stays owned by the
stopped worker. A second signal exits at once (code 1); nothing is lost,
leases simply expire.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from archipel.engine.health import HealthServer
from archipel.engine.retry import Backoff
from archipel.engine.settings import EngineSettings
from archipel.engine.startup import wait_until_reachable
from archipel.engine.worker import Worker
from archipel.errors import ArchipelError
from archipel.utils.signals import relay_signals

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["run_server"]

log = logging.getLogger("archipel.engine.server")

_PROCESSING_KEYS = ("event_processing", "command_processing", "message_processing", "enable_outbox")
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _warn_misplaced_keys(domain: Domain) -> None:
    # the seed's production file puts these lines after [brokers.default], where
    # TOML makes them broker settings: say so instead of silently running sync
    for name, table in (domain.config.get("brokers") or {}).items():
        misplaced = [k for k in _PROCESSING_KEYS if isinstance(table, dict) and k in table]
        if misplaced:
            log.warning(
                "%s in [brokers.%s] are broker settings in TOML and are ignored; move them "
                "above the first [table] of domain.toml to make them domain settings",
                ", ".join(misplaced), name,
            )


def _shares_across_processes(domain: Domain) -> bool:
    databases = domain.config.get("databases") or {}
    brokers = domain.config.get("brokers") or {}
    in_process = {"memory", "inline"}
    return not any(
        (table or {}).get("provider") in in_process for table in [*databases.values(), *brokers.values()]
    )


def _install_signals(on_stop: Callable[[], None]) -> Callable[[], None]:
    """Route SIGTERM/SIGINT to ``on_stop`` (a second one exits at once); return an undo.

    ``on_stop`` runs on a relay thread, not in the signal handler: it sets a
    ``threading.Event``, whose lock the main thread may hold when the signal
    arrives (inside ``stop.wait``), and setting it from the handler would wait
    for that lock forever (:mod:`archipel.utils.signals`).
    """

    def stopping(signum: signal.Signals) -> None:
        log.info("received %s: stopping gracefully", signum.name)
        on_stop()

    return relay_signals(_STOP_SIGNALS, stopping, exit_on_second=1)


def _all_idle(workers: list[Worker]) -> bool:
    """Every partition owned by someone, nothing buffered, relayed or pending anywhere."""
    first = workers[0]
    if any(w.relay is not None for w in workers) and first.outbox_pending():
        return False
    for index, consumer in enumerate(first.consumers):
        owned: set[int] = set()
        for worker in workers:
            peer = worker.consumers[index]
            if peer.buffered():
                return False
            owned |= set(peer.ownership.owned)
        if len(owned) < consumer.ownership.partitions:
            return False
        for stream in consumer.sub.broker_streams(first.settings):
            if first.broker.lag(stream, consumer.group) or first.broker.pending(stream, consumer.group):
                return False
    return True


def _run_in_process(
    domain: Domain,
    settings: EngineSettings,
    workers: int,
    health_port: int | None,
    test_mode: bool,
    metrics_port: int | None = None,
) -> int:
    stop = threading.Event()
    undo = _install_signals(stop.set)
    started: list[Worker] = []
    health: HealthServer | None = None
    stop_metrics: Callable[[], None] | None = None
    try:
        if not wait_until_reachable(domain, stop):
            log.info("stopped while waiting for the database or the broker")
            return 0
        created = [Worker(domain, settings, stop_event=stop) for _ in range(workers)]
        if metrics_port is not None:
            from archipel.engine.metrics import engine_registry, serve_metrics

            registry = engine_registry(domain, lambda: created)
            stop_metrics = serve_metrics(registry, metrics_port, settings.metrics_host).stop
        for worker in created:
            started.append(worker.start())
        if health_port:
            health = HealthServer(
                health_port,
                lambda: {
                    "status": "stopping" if stop.is_set() else "ok",
                    "domain": domain.name,
                    "workers": [w.report() for w in started],
                },
                settings.health_host,
                settings.health_port_auto_increment,
            ).start()
        quiet_since: float | None = None
        while not stop.wait(0.1):
            if not test_mode:
                continue
            try:
                idle = _all_idle(started)
            except ArchipelError:
                idle = False
            now = time.monotonic()
            quiet_since = (quiet_since or now) if idle else None
            if quiet_since is not None and now - quiet_since >= 0.3:
                stop.set()
        clean = all([w.stop() for w in started])
        return 0 if clean else 1
    finally:
        stop.set()
        for worker in started:
            if worker.alive:
                worker.stop(timeout=5.0)
        if health is not None:
            health.stop()
        if stop_metrics is not None:
            stop_metrics()
        undo()


def _fork_worker(domain: Domain, settings: EngineSettings, metrics_port: int | None) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for sig in _STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        domain.init()  # fresh connections: nothing is shared with the parent
        code = _run_in_process(domain, settings, 1, None, False, metrics_port)
    except BaseException:
        log.exception("worker %d crashed", os.getpid())
    finally:
        os._exit(code)


def _supervise(
    domain: Domain, settings: EngineSettings, workers: int, health_port: int | None, metrics_port: int | None
) -> int:
    stopping = threading.Event()
    undo = _install_signals(stopping.set)
    if not wait_until_reachable(domain, stopping):
        undo()
        return 0
    # close every connection before forking: a child must never use its parent's sockets
    domain.shutdown()
    children: dict[int, int] = {}  # pid -> slot
    codes: dict[int, int] = {}
    restarts = Backoff(base=0.5, cap=10.0)
    health: HealthServer | None = None
    try:
        def port_of(slot: int) -> int | None:
            return None if metrics_port is None else metrics_port + slot

        for slot in range(workers):
            children[_fork_worker(domain, settings, port_of(slot))] = slot
        if health_port:
            health = HealthServer(
                health_port,
                lambda: {
                    "status": "stopping" if stopping.is_set() else "ok",
                    "domain": domain.name,
                    "worker_pids": sorted(children),
                },
                settings.health_host,
                settings.health_port_auto_increment,
            ).start()
        forwarded = False
        while children:
            if stopping.is_set() and not forwarded:
                forwarded = True
                for pid in children:
                    _signal(pid, signal.SIGTERM)
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                time.sleep(0.1)
                continue
            if pid not in children:
                continue
            slot = children.pop(pid)
            code = os.waitstatus_to_exitcode(status)
            if stopping.is_set():
                codes[slot] = code
                continue
            delay = restarts.next()
            log.error("worker %d exited with %d; restarting it in %.1fs", pid, code, delay)
            if stopping.wait(delay):
                codes[slot] = code
                continue
            children[_fork_worker(domain, settings, port_of(slot))] = slot
        return 0 if all(code == 0 for code in codes.values()) else 1
    finally:
        for pid in children:
            _signal(pid, signal.SIGKILL)
        if health is not None:
            health.stop()
        undo()
        domain.init()


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def run_server(
    domain: Domain,
    *,
    workers: int = 1,
    health_port: int | None = None,
    test_mode: bool = False,
    metrics_port: int | None = None,
) -> int:
    """Run the async engine for ``domain``; block until SIGTERM/SIGINT; return the exit code.

    ``workers``: worker processes (threads of this process when the database
    or broker is in-process). ``health_port``: serve ``/health`` on
    127.0.0.1 (default: ``[server] health_port``, or Protean's ``[server.health]``
    table: ``port``, ``host``, ``enabled``, ``port_auto_increment``). ``test_mode``: stop as
    soon as everything pending has been relayed and handled.
    ``metrics_port``: serve Prometheus ``/metrics`` on ``[server] metrics_host``
    (127.0.0.1) at this port (default: ``[server] metrics_port``; 0 picks a free
    one); with forked worker processes, worker ``i`` serves on port + ``i``.
    Returns 0 after a clean shutdown.
    """
    if not domain.initialized:
        domain.init()
    settings = EngineSettings.from_config(domain.config)
    port = health_port if health_port is not None else settings.health_port
    metrics = metrics_port if metrics_port is not None else settings.metrics_port
    _warn_misplaced_keys(domain)
    workers = max(1, int(workers))
    if workers > 1 and not test_mode and _shares_across_processes(domain) and hasattr(os, "fork"):
        return _supervise(domain, settings, workers, port, metrics)
    return _run_in_process(domain, settings, workers, port, test_mode, metrics)
