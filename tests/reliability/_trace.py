"""Diagnostics for the fault scenarios: trace publishes, reads, claims and commits of a worker.

Installed by ``tests.reliability.worker`` when ``ARCHIPEL_TEST_TRACE`` names a directory
(off by default): one ``trace-<pid>.log`` per process, one line per entry —
``<time> <thread> <KIND> ...`` with KIND ``PUB``/``PUBFAIL`` (relay publishes),
``READ``/``CLAIM``/``OWNPEND`` (entries a consumer got: read, taken over, recovered),
``COMMIT`` (handled in a committed batch; ``new=False``: a redelivery dropped),
``LANEFAIL``/``EACHFAIL``/``CONCURRENT`` (partition runs failing or overlapping).
Each entry names its message id, type, account and seq, so the history of one
account can be followed across workers and failovers.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import msgspec

_lock = threading.Lock()
_file: Any = None


def _out(kind: str, text: str) -> None:
    with _lock:
        _file.write(f"{time.time():.4f} {threading.current_thread().name} {kind} {text}\n")


def _desc(payload: Any) -> str:
    if not isinstance(payload, dict):
        return "?"
    meta = payload.get("metadata") or {}
    data = payload.get("data") or {}
    return f"{meta.get('id')} {str(meta.get('type', '')).rsplit('.', 2)[-2:][0]} {data.get('account_id')} {data.get('seq')}"


def install(directory: str) -> None:
    global _file
    from archipel.adapters.redis.broker import RedisBroker
    from archipel.engine.consumer import Consumer

    _file = open(os.path.join(directory, f"trace-{os.getpid()}.log"), "a", buffering=1)  # noqa: SIM115

    # every publish goes through publish_encoded (the relay's, and publish_many's)
    publish_encoded = RedisBroker.publish_encoded

    def traced_publish(self: Any, entries: Any) -> list[str]:
        try:
            ids = publish_encoded(self, entries)
        except BaseException as exc:
            for stream, data in entries:
                _out("PUBFAIL", f"{stream} - {_desc(msgspec.json.decode(data))} {type(exc).__name__}")
            raise
        for (stream, data), entry_id in zip(entries, ids, strict=False):
            _out("PUB", f"{stream} {entry_id} {_desc(msgspec.json.decode(data))}")
        return ids

    RedisBroker.publish_encoded = traced_publish  # type: ignore[method-assign]

    def wrap_reader(name: str, kind: str) -> None:
        original = getattr(RedisBroker, name)

        def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
            entries = original(self, *args, **kwargs)
            consumer = args[2] if name == "claim_stale" else args[1]
            group = args[1] if name == "claim_stale" else args[0]
            for entry in entries:
                _out(kind, f"{group.rsplit('.', 1)[-1]} {consumer} {entry.stream} {entry.id} {_desc(entry.payload)}")
            return entries

        setattr(RedisBroker, name, traced)

    wrap_reader("read", "READ")
    wrap_reader("claim_stale", "CLAIM")
    wrap_reader("own_pending", "OWNPEND")

    import archipel.engine.consumer as consumer_module

    marked = threading.local()
    mark_processed = consumer_module.mark_processed

    def traced_marks(batch: Any, subscription: str, ids: list[str]) -> Any:
        flags = mark_processed(batch, subscription, ids)
        marked.flags = flags
        return flags

    consumer_module.mark_processed = traced_marks  # type: ignore[assignment]

    commit = Consumer._commit

    def traced_commit(self: Any, part: Any, items: list[Any]) -> None:
        lease = self.ownership.owned.get(part.number)
        marked.flags = None
        commit(self, part, items)
        flags = marked.flags or [None] * len(items)
        for item, flag in zip(items, flags, strict=False):
            _out(
                "COMMIT",
                f"{self.group.rsplit('.', 1)[-1]} {self.worker_id} p{part.number} tok{getattr(lease, 'token', None)} "
                f"{item.entry.stream} {item.entry.id} {_desc(item.entry.payload)} new={flag}",
            )

    Consumer._commit = traced_commit  # type: ignore[method-assign]
    install_lane_watch()


def install_lane_watch() -> None:
    """Log CONCURRENT when two threads run one partition lane of one consumer at once."""
    from archipel.engine.consumer import Consumer

    running: dict[tuple[int, int, str], str] = {}
    run_lane = Consumer._run_lane

    def watched(self: Any, part: Any, lane: str, limit: int) -> int:
        key = (id(self), part.number, lane)
        me = threading.current_thread().name
        with _lock:
            other = running.get(key)
            running[key] = me
        if other is not None:
            _out("CONCURRENT", f"{self.group.rsplit('.', 1)[-1]} p{part.number} {lane} {me} while {other}")
        try:
            return run_lane(self, part, lane, limit)
        except BaseException as exc:
            _out("LANEFAIL", f"{self.group.rsplit('.', 1)[-1]} p{part.number} {lane} {type(exc).__name__}: {exc}"[:300])
            raise
        finally:
            with _lock:
                if running.get(key) == me:
                    del running[key]

    Consumer._run_lane = watched  # type: ignore[method-assign]

    each = Consumer._each_partition

    def watched_each(self: Any, lane: str, limit: int) -> int:
        try:
            return each(self, lane, limit)
        except BaseException as exc:
            with _lock:
                left = [k for k in running if k[0] == id(self)]
            _out("EACHFAIL", f"{self.group.rsplit('.', 1)[-1]} {type(exc).__name__} still running: {left}")
            raise

    Consumer._each_partition = watched_each  # type: ignore[method-assign]
