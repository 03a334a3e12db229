"""Waiting for the database and the broker at start, instead of exiting.

``archipel server`` and ``archipel observatory`` may start before the
database or the broker they use (containers starting together, a database
restarting). :func:`wait_until_reachable` tries them with capped exponential
backoff, logging on ``archipel.engine.startup`` what it waits for and why,
and returns once both answer — or ``False`` as soon as ``stop`` is set (a
SIGTERM while waiting ends the process cleanly). Only an *unreachable*
dependency is waited for (:class:`~archipel.errors.DatabaseUnavailable`,
:class:`~archipel.errors.BrokerUnavailable`, each logged with its reason);
any other error (a wrong configuration) ends the start as before.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from archipel.engine.records import ensure_tables
from archipel.engine.retry import Backoff
from archipel.errors import BrokerUnavailable, DatabaseUnavailable

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["wait_until_reachable", "check_reachable"]

log = logging.getLogger("archipel.engine.startup")

#: the name of a stream nobody uses: asking its length proves the broker answers
_PROBE_STREAM = "archipel:startup-probe"


def check_reachable(domain: Domain, *, create_tables: bool) -> None:
    """Raise ``DatabaseUnavailable``/``BrokerUnavailable`` unless both answer now.

    ``create_tables``: also create the engine's tables (the server); without
    it nothing is written (the observatory only reads).
    """
    database = domain.providers.database("default")
    if create_tables:
        ensure_tables(domain)
    else:
        table_names = getattr(database, "table_names", None)
        if table_names is not None:
            table_names()
    broker = domain.providers.brokers.get("default")
    if broker is not None:
        length = getattr(broker, "length", None)
        if length is not None:
            length(_PROBE_STREAM)
        else:
            broker.streams()


def wait_until_reachable(
    domain: Domain,
    stop: threading.Event,
    *,
    create_tables: bool = True,
    base: float = 0.5,
    cap: float = 15.0,
) -> bool:
    """Block until the domain's database and broker answer; False if ``stop`` was set first.

    Pauses grow from ``base`` seconds, doubling (with jitter) up to ``cap``.
    One warning per attempt names what is awaited; one info line says when
    it came up.
    """
    backoff = Backoff(base=base, cap=cap)
    while not stop.is_set():
        try:
            check_reachable(domain, create_tables=create_tables)
        except (DatabaseUnavailable, BrokerUnavailable) as exc:
            what = "the database" if isinstance(exc, DatabaseUnavailable) else "the broker"
            delay = backoff.next()
            log.warning(
                "domain %s: waiting for %s (attempt %d, next in %.1fs): %s",
                domain.name, what, backoff.attempt, delay, exc,
                extra={"archipel_waiting_for": what, "archipel_attempt": backoff.attempt},
            )
            stop.wait(delay)
            continue
        if backoff.attempt:
            log.warning("domain %s: database and broker are reachable: starting", domain.name)
        return True
    return False
