"""What happens to a message whose handler fails: retry a transient error, dead-letter the rest.

The error is classified (:mod:`.classify`): a business error or a bug is
dead-lettered at once; a transient one (connection, timeout, lock, lease, the
handler's ``retry_exceptions``) is retried after a capped exponential backoff
with jitter, and dead-lettered after ``max_retries`` retries (or dropped, with
``enable_dlq = false``). The dead letter keeps the error and its traceback.

Every failure logs exactly one line on ``archipel.engine.consumer`` with the
decision — ``retry n/m in Xs``, ``dead-lettered as <id>``, ``dropped`` — the
subscription and the message id; the record's ``extra`` fields
(``archipel_subscription``, ``archipel_message_id``, ``archipel_decision``,
``archipel_attempt``, ``archipel_max_attempts``, ``archipel_error``,
``archipel_correlation_id``, ``archipel_message_type``) carry the same facts
for structured logging (``archipel server --log-format json``).
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
from collections.abc import Callable
from typing import Any

from archipel.core.handler_options import RetryPolicy
from archipel.engine.classify import describe_failure, should_retry
from archipel.engine.dlq import DeadLetterStore, dead_letter_id_of
from archipel.engine.handler_policy import retry_delay
from archipel.engine.queue import Item
from archipel.engine.settings import EngineSettings
from archipel.utils.eventing import Message
from archipel.utils.logs import message_fields

__all__ = ["Failures", "own_error_hook"]

log = logging.getLogger("archipel.engine.consumer")


class Failures:
    """Retry and dead-letter decisions of one subscription in one worker (thread-safe)."""

    def __init__(
        self,
        subscription: str,
        dlq: DeadLetterStore,
        settings: EngineSettings,
        policy: RetryPolicy | None = None,
        on_error: Callable[[BaseException, Any], None] | None = None,
    ) -> None:
        self.subscription = subscription
        #: the handler's ``handle_error(exc, message)``, called at each failed attempt
        self.on_error = on_error
        #: the handler's own retry policy (``retries``, ``backoff``, ``retry_exceptions``)
        self.policy = policy or RetryPolicy()
        #: exception classes the handler declares retryable, besides the transient ones
        self.retry_on: tuple[type[BaseException], ...] = self.policy.exceptions or ()
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

    def failed(self, item: Item, exc: BaseException, *, retryable: bool = True) -> None:
        """Count a failed attempt: schedule a retry (transient errors), or dead-letter the entry.

        ``retryable=False``: dead-letter whatever the error (an undecodable entry).
        """
        if self.on_error is not None:
            self._tell_handler(item, exc)
        settings = self.settings
        item.attempts += 1
        item.first_failed_at = item.first_failed_at or time.time()
        item.error = "".join(traceback.format_exception(exc)).strip()
        summary = describe_failure(exc)
        transient = retryable and should_retry(exc, self.policy.exceptions)
        if transient and item.attempts <= settings.max_retries:
            delay = retry_delay(self.policy, item.attempts, settings)
            item.next_at = time.monotonic() + delay
            with self._lock:
                self.retried += 1
            self._log(
                logging.WARNING, item, "retry", summary,
                f"retry {item.attempts}/{settings.max_retries} in {delay:.2f}s",
            )
            return
        why = f"after {item.attempts} attempts" if transient else "not retryable"
        self._give_up(item, why, summary)

    def _tell_handler(self, item: Item, exc: BaseException) -> None:
        """Run the handler's ``handle_error``; what it raises is logged, never propagated."""
        decoded = item.decoded
        if decoded is None:
            return
        try:
            payload = decoded.payload
            message = payload if decoded.message is None else Message.from_dict(payload)
            self.on_error(exc, message)  # type: ignore[misc]
        except Exception:
            log.exception("%s: its handle_error raised while handling a failure", self.subscription)

    def died(self, item: Item, died: int) -> None:
        """Dead-letter an entry whose workers died ``died`` times while handling it (then ``done``)."""
        item.attempts = died
        item.first_failed_at = item.first_failed_at or time.time()
        item.error = (
            f"the worker handling it died {died} times (delivered {item.deliveries} times): "
            "dead-lettered without running it again"
        )
        self._give_up(item, f"its worker died {died} times", "WorkerDied: " + item.error)

    def _message_id(self, item: Item) -> str:
        return item.decoded.message_id if item.decoded is not None else f"{item.entry.stream}:{item.entry.id}"

    @staticmethod
    def _ids(item: Item) -> dict[str, object]:
        """The correlation id and type of the failed message, for structured logs."""
        decoded = item.decoded
        if decoded is None:
            return {}
        fields = message_fields(decoded.payload, decoded.message_id)
        return {
            "archipel_correlation_id": fields.get("correlation_id"),
            "archipel_message_type": decoded.type,
        }

    def _log(self, level: int, item: Item, decision: str, summary: str, what: str) -> None:
        message_id = self._message_id(item)
        log.log(
            level,
            "%s: message %s failed: %s — %s",
            self.subscription, message_id, summary, what,
            extra={
                "archipel_subscription": self.subscription,
                "archipel_message_id": message_id,
                "archipel_decision": decision,
                "archipel_attempt": item.attempts,
                "archipel_max_attempts": self.settings.max_retries + 1,
                "archipel_error": summary,
                **self._ids(item),
            },
        )

    def _give_up(self, item: Item, why: str, summary: str) -> None:
        settings = self.settings
        with self._lock:
            self.failed_for_good += 1
        if not settings.enable_dlq:
            item.done = True
            self._log(logging.ERROR, item, "dropped", summary, f"dropped ({why}; enable_dlq is off)")
            return
        letter_id = self._dead_letter(item, item.error, item.attempts)
        item.done = True
        with self._lock:
            self.dead_lettered += 1
        self._log(logging.ERROR, item, "dead-lettered", summary, f"dead-lettered as {letter_id} ({why})")
        if settings.park_after_dead_letter and item.decoded is not None and item.decoded.stream:
            self.dead.setdefault(item.key or "", letter_id)

    def park(self, item: Item) -> None:
        """Put an entry in the dead-letter queue behind its aggregate's dead letter (then ``done``)."""
        behind = self.dead.get(item.key or "", "")
        decoded = item.decoded
        if decoded is not None and behind == dead_letter_id_of(
            self.subscription, decoded.message_id, decoded.payload
        ):
            # the dead letter itself, delivered again before its acknowledgement took
            # effect (its worker died): already recorded, parking would overwrite its error
            item.done = True
            return
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


def own_error_hook(handler_cls: type) -> Callable[[BaseException, Any], None] | None:
    """``handler_cls.handle_error`` when the class defines one of its own (else None: nothing to call)."""
    hook = getattr(handler_cls, "handle_error", None)
    if hook is None:
        return None
    from archipel.core.handler import BaseHandler
    from archipel.core.process_manager import BaseProcessManager

    defaults = (BaseHandler.handle_error.__func__, BaseProcessManager.handle_error.__func__)  # type: ignore[attr-defined]
    return None if getattr(hook, "__func__", hook) in defaults else hook  # type: ignore[no-any-return]
