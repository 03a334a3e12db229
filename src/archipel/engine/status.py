"""``subscription_status(domain)``: lag, pending and dead letters per handler.

Every handler of the domain is listed, whether or not the current
configuration runs it through the server (``active``); ``lag`` and
``pending`` are summed over the subscription's broker streams (all
partitions and lanes) and are ``None`` when they do not apply or the broker
cannot say. Reading creates nothing: on a database never set up every
number is 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from archipel.engine.dlq import DeadLetterStore
from archipel.engine.settings import EngineSettings
from archipel.engine.subscriptions import active_subscriptions, all_subscriptions
from archipel.errors import ArchipelError

if TYPE_CHECKING:
    from archipel.domain.domain import Domain
    from archipel.port.broker import BrokerAdmin

__all__ = ["SubscriptionStatus", "subscription_status"]


@dataclass(slots=True)
class SubscriptionStatus:
    """One row of ``archipel subscriptions status``."""

    name: str
    kind: str
    streams: list[str]
    lag: int | None
    pending: int | None
    dlq_depth: int | None
    #: whether ``archipel server`` runs it (async processing for its kind)
    active: bool = True
    broker_streams: list[str] = field(default_factory=list)


def _sum(values: list[int | None]) -> int | None:
    if any(v is None for v in values):
        return None
    return sum(v for v in values if v is not None)


def _broker_numbers(broker: BrokerAdmin, streams: list[str], group: str) -> tuple[int | None, int | None]:
    try:
        lag = _sum([broker.lag(s, group) for s in streams])
        pending = _sum([broker.pending(s, group) for s in streams])
    except ArchipelError:
        return None, None
    return lag, pending


def subscription_status(domain: Domain) -> list[SubscriptionStatus]:
    """One :class:`SubscriptionStatus` per handler of ``domain``, ordered by kind and name."""
    if not domain.initialized:
        domain.init()
    settings = EngineSettings.from_config(domain.config)
    broker = domain.providers.brokers.get("default")
    active = {s.name for s in active_subscriptions(domain)}
    try:
        store: DeadLetterStore | None = DeadLetterStore(domain, create_tables=False)
    except ArchipelError:
        store = None
    rows = []
    for sub in all_subscriptions(domain):
        streams = sub.broker_streams(settings)
        lag = pending = None
        if sub.name in active and broker is not None:
            lag, pending = _broker_numbers(broker, streams, sub.name)
        depth: int | None = None
        if store is not None:
            try:
                depth = store.count(sub.name)
            except ArchipelError:
                depth = None
        rows.append(
            SubscriptionStatus(
                name=sub.name,
                kind=sub.kind,
                streams=list(sub.categories),
                lag=lag,
                pending=pending,
                dlq_depth=depth,
                active=sub.name in active,
                broker_streams=streams,
            )
        )
    return rows
