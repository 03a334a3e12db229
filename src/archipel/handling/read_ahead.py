"""Reading a projection rebuild's messages: pages of the log, read ahead on a thread.

:func:`bulk_pages` takes batches from the event store's
:class:`~archipel.port.bulk.BulkLog` (a batch per query); :func:`pages`
reads the ordinary ``read_category`` / ``read_all`` pages of a store that
has none. :func:`prefetched` runs either on a thread of its own, one item
ahead, so the database prepares batch k+1 while the projectors run batch k.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any, TypeVar

from archipel.core.message import StoredEnvelope
from archipel.port.bulk import BulkLog, RawMessage

__all__ = ["Page", "bulk_pages", "pages", "prefetched"]

T = TypeVar("T")

#: ``(last global position read, messages)``
Page = tuple[int, list[RawMessage]]


def bulk_pages(reader: BulkLog, categories: list[str], batch_size: int) -> Iterator[Page]:
    """``(last position read, messages)`` from a bulk reader."""
    for batch in reader.batches(categories, batch_size):
        if batch:
            yield batch[-1][0], batch


def pages(store: Any, categories: list[str], batch_size: int) -> Iterator[Page]:
    """``(last position read, messages of categories)`` from the ordinary event-store port."""
    one = categories[0] if len(categories) == 1 else None
    wanted = set(categories)
    after = 0
    while True:
        page = (
            store.read_category(one, after_global=after, limit=batch_size)
            if one is not None
            else store.read_all(after_global=after, limit=batch_size)
        )
        if not page:
            return
        after = int(page[-1]["metadata"]["global_position"])
        messages: list[RawMessage] = []
        for stored in page:
            meta = stored["metadata"]
            if one is None and str(meta.get("stream") or "").split("-", 1)[0] not in wanted:
                continue
            # copies the builders may take over: envelope fields only
            envelope = (
                dict(meta) if meta.keys() <= _ENVELOPE
                else {key: value for key, value in meta.items() if key in _ENVELOPE}
            )
            messages.append((int(meta["global_position"]), envelope, dict(stored.get("data") or {})))
        yield after, messages
        if len(page) < batch_size:
            return


_ENVELOPE = frozenset(StoredEnvelope.__annotations__)

_END = object()


def prefetched(items: Iterator[T], cpu: dict[str, float] | None = None) -> Iterator[T]:
    """``items``, produced one ahead on a thread (the database works while the caller does).

    An error of the producer is raised to the consumer; a consumer that
    stops early stops the producer (it ends after the item it is producing).
    The producing thread's CPU seconds are added to ``cpu["reader"]`` when given.
    """
    slot: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: Any, error: BaseException | None = None) -> bool:
        while not stop.is_set():
            try:
                slot.put((item, error), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        started = time.thread_time()
        try:
            for item in items:
                if cpu is not None:
                    cpu["reader"] = cpu.get("reader", 0.0) + time.thread_time() - started
                if not put(item):
                    return
                started = time.thread_time()
            put(_END)
        except BaseException as exc:  # handed to the consumer
            put(None, exc)

    thread = threading.Thread(target=produce, name="archipel-rebuild-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slot.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()


