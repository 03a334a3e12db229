"""A subscription added after events were stored catches up from the event store.

The broker only holds what was published after a group existed, minus what
trimming removed once every *existing* group had read it; a handler,
projector or process manager deployed later would start on a partial
stream. So before a subscription consumes its first live entry, the engine
checks whether it is new — no durable catch-up record, and none of its
broker streams has its consumer group (a subscription that ran before this
feature existed has its groups, and is not replayed) — and if so:

A new subscription whose streams were never trimmed needs nothing more: the
broker still holds every entry published, and a new group starts at the
beginning. Otherwise:

1. records the catch-up as ``running`` (other workers starting the same
   subscription then wait: they see the record, and the lease is taken);
2. creates its groups on every broker stream: from now on, everything
   published reaches it live;
3. replays every event of its stream categories from the event store, in
   global order and in batches, through the ordinary engine path (upcasting,
   the processed-message record in the same transaction as the effects);
4. records the catch-up as ``done``; consumption starts.

An event stored before step 2 but published after it arrives twice — once
replayed, once live — and the processed-message record makes the second a
no-op; an event stored after step 3 read the store arrives live. So there is
neither gap nor duplicate, whatever the broker trimmed. A worker killed
during a catch-up leaves the record ``running``; its lease expires and the
next worker replays again (what was already applied is recognised). A
message that keeps failing during a catch-up is dead-lettered like a live one.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import TYPE_CHECKING, Any

from archipel.engine.dlq import DeadLetterStore
from archipel.engine.invoke import Batch, decode, run_message
from archipel.engine.records import ensure_tables
from archipel.errors import ExpectedVersionError
from archipel.fields import Float, Integer, String
from archipel.port.schema import ModelSchema, record_schema

if TYPE_CHECKING:
    from archipel.domain.domain import Domain
    from archipel.engine.leases import LeaseStore
    from archipel.engine.settings import EngineSettings
    from archipel.engine.subscriptions import Subscription

__all__ = ["CATCH_UP_KINDS", "catch_up", "catchup_schema", "catchup_state"]

log = logging.getLogger("archipel.engine.catchup")

#: subscriptions that read stream categories of stored events
CATCH_UP_KINDS = ("event_handler", "projector", "process_manager")
_PAGE = 500



def catchup_schema(domain: Domain) -> ModelSchema:
    """One row per subscription: ``state`` (``running``/``done``), events replayed, position."""
    return record_schema(
        "CatchUp",
        f"archipel_{domain.snake_name}_catchups",
        id=String(identifier=True, max_length=255),
        state=String(max_length=20),
        events=Integer(),
        position=Integer(),
        updated_at=Float(),
    )


def _schema(domain: Domain) -> ModelSchema:
    ensure_tables(domain)
    schema = catchup_schema(domain)
    domain.providers.database("default").setup([schema])
    return schema


def catchup_state(domain: Domain, subscription: str) -> dict[str, Any] | None:
    """The catch-up record of ``subscription``, or None when it never started one."""
    schema = _schema(domain)
    tx = domain.providers.database("default").begin()
    try:
        found: dict[str, Any] | None = tx.get(schema, subscription)
        return found
    finally:
        tx.commit()


def _write(domain: Domain, subscription: str, **values: Any) -> None:
    schema = _schema(domain)
    tx = domain.providers.database("default").begin()
    try:
        found = tx.get(schema, subscription)
        record = {k: v for k, v in (found or {}).items() if k != "_version"}
        record.update(id=subscription, updated_at=time.time(), **values)
        tx.save(schema, record, int(found["_version"]) if found else -1)
        tx.commit()
    except BaseException:
        tx.rollback()
        raise


def catch_up(
    domain: Domain,
    sub: Subscription,
    broker: Any,
    settings: EngineSettings,
    leases: LeaseStore,
    worker_id: str,
) -> bool:
    """Make sure ``sub`` may consume live: True when it may (caught up, or nothing to do).

    False when another worker is catching it up: call again later. Creates
    the subscription's consumer groups in every case.
    """
    streams = sub.broker_streams(settings)
    group = sub.name
    if sub.kind not in CATCH_UP_KINDS:
        for stream in streams:
            broker.ensure_group(stream, group)
        return True
    found = catchup_state(domain, sub.name)
    if found is not None and found.get("state") == "done":
        for stream in streams:
            broker.ensure_group(stream, group)
        return True
    if found is None:
        has_group = getattr(broker, "has_group", None)
        trimmed = getattr(broker, "trimmed", None)
        existing = has_group is None or any(has_group(stream, group) for stream in streams)
        # a stream never trimmed still holds every entry published to it: a group
        # created at its start misses nothing (the broker cannot tell: replay)
        complete = trimmed is not None and not any(trimmed(stream) for stream in streams)
        if existing or complete:
            for stream in streams:
                broker.ensure_group(stream, group)
            try:
                _write(domain, sub.name, state="done", events=0, position=0)
            except ExpectedVersionError:
                # another worker starting at the same time recorded it first: it found the
                # same (groups exist, or nothing was trimmed), else it holds the catch-up lease
                return catch_up(domain, sub, broker, settings, leases, worker_id)
            return True
    lease = leases.acquire(f"catchup:{sub.name}", "catchup", worker_id, settings.lease_seconds)
    if lease is None:
        return False  # another worker is catching it up
    try:
        _write(domain, sub.name, state="running", events=0, position=0)
        for stream in streams:
            broker.ensure_group(stream, group)
        events, position = _replay(domain, sub, settings, leases, lease)
        _write(domain, sub.name, state="done", events=events, position=position)
        log.info("%s: caught up from the event store (%d events)", sub.name, events)
    finally:
        leases.release(lease)
    return True


def _replay(
    domain: Domain, sub: Subscription, settings: EngineSettings, leases: LeaseStore, lease: Any
) -> tuple[int, int]:
    from archipel.engine.relay import route_row

    store = domain.providers.event_store
    categories = list(dict.fromkeys(sub.categories))
    wanted = set(categories)
    one = categories[0] if len(categories) == 1 else None
    dlq = DeadLetterStore(domain)
    after = handled = 0
    while True:
        page = (
            store.read_category(one, after_global=after, limit=_PAGE)
            if one is not None
            else store.read_all(after_global=after, limit=_PAGE)
        )
        if not page:
            break
        after = int(page[-1]["metadata"]["global_position"])
        items = []
        for stored in page:
            meta = stored["metadata"]
            stream = str(meta.get("stream") or "")
            if stream.split("-", 1)[0] not in wanted:
                continue
            try:
                decoded = decode(domain, sub, "catch-up", str(meta.get("global_position")), stored)
            except Exception as exc:  # undecodable: retrying cannot help
                _dead_letter(dlq, sub, stored, route_row({"stream": stream}, settings), exc, 1)
                continue
            if not decoded.skip:
                items.append((decoded, route_row({"stream": stream}, settings)))
        handled += _run(domain, sub, items, dlq, settings)
        leases.renew(lease, settings.lease_seconds)
        if len(page) < _PAGE:
            break
    return handled, after


def _run(domain: Domain, sub: Subscription, items: list[Any], dlq: DeadLetterStore, settings: EngineSettings) -> int:
    """Run each of ``items`` in a transaction of its own (with its processed record),
    retrying and then dead-lettering what keeps failing; return how many ran.

    One transaction per message: units of work of one batch that change the
    same row conflict at commit, and a catch-up runs once."""
    done = 0
    for decoded, broker_stream in items:
        for attempt in range(settings.max_retries + 1):
            batch = Batch(domain)
            try:
                if run_message(domain, sub, decoded, batch):
                    done += 1
                batch.commit()
                break
            except Exception as exc:
                batch.rollback()
                if attempt == settings.max_retries:
                    _dead_letter(dlq, sub, decoded.payload, broker_stream, exc, attempt + 1)
    return done


def _dead_letter(
    dlq: DeadLetterStore, sub: Subscription, payload: dict[str, Any], broker_stream: str,
    exc: BaseException, attempts: int,
) -> None:
    meta = payload.get("metadata") or {}
    letter = dlq.add(
        subscription=sub.name,
        message_id=str(meta.get("id")),
        type=meta.get("type"),
        stream=meta.get("stream"),
        broker_stream=broker_stream,
        payload=payload,
        error="".join(traceback.format_exception(exc)).strip(),
        attempts=attempts,
    )
    log.error("%s: catching up, message %s failed; dead letter %s: %s", sub.name, meta.get("id"), letter, exc)
