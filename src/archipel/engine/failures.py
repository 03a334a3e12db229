"""What happens to a message whose handler fails: retry with backoff, then the DLQ.

A failed entry is retried after an exponential backoff with jitter; after
``max_retries`` it is dead-lettered (or dropped, with ``enable_dlq = false``).
With ``park_after_dead_letter``, later entries of the same aggregate are
*parked* in the dead-letter queue behind it, so that replaying keeps the
aggregate's order; a replayed entry is never parked.

An entry whose worker *process* died while handling it (``os._exit``, the OOM
killer, a crashing C extension) cannot be counted in memory: the broker's
delivery count stands in for it, and an entry taken over once too often is
dead-lettered without running (:meth:`Failures.died`).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback

from archipel.engine.dlq import DeadLetterStore
from archipel.engine.queue import Item
from archipel.engine.retry import backoff_delay
from archipel.engine.settings import EngineSettings
from archipel.utils.logs import message_fields

__all__ = ["Failures"]

log = logging.getLogger("archipel.engine.consumer")


class Failures:
    """Retry and dead-letter decisions of one subscription in one worker (thread-safe)."""

    def __init__(self, subscription: str, dlq: DeadLetterStore, settings: EngineSettings) -> None:
        self.subscription = subscription
        self.dlq = dlq
        self.settings = settings
        #: aggregate key -> id of the dead letter later entries are parked behind
        self.dead: dict[str, str] = {}
        #: counters read by the metrics collector (plain ints: nothing to pay when it is off)
        self.dead_lettered = 0
        self.retried = 0
        self.failed_for_good = 0
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Reload the aggregates with unresolved dead letters (replays, purges elsewhere)."""
        self.dead = self.dlq.dead_keys(self.subscription) if self.settings.park_after_dead_letter else {}

    def must_park(self, item: Item) -> bool:
        decoded = item.decoded
        return (
            bool(self.dead)
            and item.key in self.dead
            and decoded is not None
            and not decoded.skip
            and not decoded.replay
            and item.first_failed_at is None
        )

    def failed(self, item: Item, exc: BaseException) -> None:
        """Count a failed attempt: schedule a retry, or dead-letter the entry (then ``done``)."""
        settings = self.settings
        item.attempts += 1
        item.first_failed_at = item.first_failed_at or time.time()
        item.error = "".join(traceback.format_exception(exc)).strip()
        if item.attempts <= settings.max_retries:
            delay = backoff_delay(item.attempts, settings.retry_delay_seconds, settings.max_retry_delay_seconds)
            item.next_at = time.monotonic() + delay
            with self._lock:
                self.retried += 1
            log.warning(
                "%s: message %s failed (attempt %d of %d), retrying in %.2fs: %s",
                self.subscription, item.entry.id, item.attempts, settings.max_retries + 1, delay, exc,
                extra=self._fields(item, "retry", attempt=item.attempts,
                                   max_attempts=settings.max_retries + 1, retry_in=round(delay, 3)),
            )
            return
        self._give_up(item, f"failed {item.attempts} times", str(exc))

    def died(self, item: Item, died: int) -> None:
        """Dead-letter an entry whose workers died ``died`` times while handling it (then ``done``)."""
        item.attempts = died
        item.first_failed_at = item.first_failed_at or time.time()
        item.error = (
            f"the worker handling it died {died} times (delivered {item.deliveries} times): "
            "dead-lettered without running it again"
        )
        self._give_up(item, f"killed its worker {died} times", item.error)

    def _give_up(self, item: Item, what: str, why: str) -> None:
        settings = self.settings
        with self._lock:
            self.failed_for_good += 1
        if not settings.enable_dlq:
            item.done = True
            log.error(
                "%s: message %s %s and was dropped (enable_dlq is off): %s",
                self.subscription, item.entry.id, what, why,
                extra=self._fields(item, "drop", attempt=item.attempts),
            )
            return
        letter_id = self._dead_letter(item, item.error, item.attempts)
        item.done = True
        with self._lock:
            self.dead_lettered += 1
        log.error(
            "%s: message %s %s; dead letter %s: %s",
            self.subscription, item.entry.id, what, letter_id, why,
            extra=self._fields(item, "dead_letter", attempt=item.attempts, dead_letter_id=letter_id),
        )
        if settings.park_after_dead_letter and item.decoded is not None and item.decoded.stream:
            self.dead.setdefault(item.key or "", letter_id)

    def _fields(self, item: Item, decision: str, **more: object) -> dict[str, object]:
        """``extra`` of a failure's log line: ids, subscription, the decision taken."""
        decoded = item.decoded
        fields = message_fields(
            decoded.payload if decoded is not None else None,
            decoded.message_id if decoded is not None else item.entry.id,
        )
        fields.update(
            subscription=self.subscription,
            message_type=decoded.type if decoded is not None else None,
            decision=decision,
            **more,
        )
        return fields

    def park(self, item: Item) -> None:
        """Put an entry in the dead-letter queue behind its aggregate's dead letter (then ``done``)."""
        behind = self.dead.get(item.key or "", "")
        self._dead_letter(
            item,
            f"parked: an earlier message of {item.key} is in the dead-letter queue ({behind}); "
            "replay or purge it, then replay this one",
            0,
            parked_behind=behind,
        )
        item.done = True

    def _dead_letter(self, item: Item, error: str, attempts: int, parked_behind: str | None = None) -> str:
        decoded = item.decoded
        assert decoded is not None
        return self.dlq.add(
            subscription=self.subscription,
            message_id=decoded.message_id,
            type=decoded.type,
            stream=item.key if decoded.stream is None else decoded.stream,
            broker_stream=item.entry.stream,
            payload=decoded.payload,
            error=error,
            attempts=attempts,
            first_failed_at=item.first_failed_at,
            parked_behind=parked_behind,
        )
