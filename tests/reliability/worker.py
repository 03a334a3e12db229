"""One engine worker process for the reliability tests.

``python -m tests.reliability.worker`` builds the bank domain named by
``ARCHIPEL_TEST_DOMAIN`` with the JSON config in ``ARCHIPEL_TEST_CONFIG``
and runs :func:`archipel.engine.run_server` until SIGTERM. Fault hooks:

- ``ARCHIPEL_TEST_CRASH_AFTER_PUBLISH=1``: the process dies (``os._exit``)
  right after the relay's first publish, before it marks the rows sent.
- ``ARCHIPEL_TEST_CRASH_IN_MOVE=1``: the process dies in the middle of the
  relay's first direct move (the database broker in the outbox's database):
  its rows locked and routed, not yet published nor marked sent.
- ``ARCHIPEL_TEST_DELAY``: seconds the projector sleeps per event.
- ``ARCHIPEL_TEST_FIX_FILE``: poison deposits fail until this file exists.

Diagnostics: ``kill -USR1 <pid>`` prints every thread's stack to the log;
``ARCHIPEL_TEST_STATE_DIR=<dir>`` appends each consumer's partitions, queues
and its streams' pending entries (by consumer) to ``<dir>/state-<pid>.txt``
every 20 s — a stall shows as entries pending for a consumer that does not
own their partition, or queues that never drain. (Periodic stack dumps,
``faulthandler.dump_traceback_later``, crashed these processes: they read
the frames of running threads.)
"""

from __future__ import annotations

import faulthandler
import json
import logging
import os
import signal
import sys
from typing import Any


def _crash_after_first_publish() -> None:
    from archipel.adapters.redis.broker import RedisBroker

    # every publish goes through publish_encoded (the relay's, and publish_many's)
    original = RedisBroker.publish_encoded

    def publish_then_die(self: Any, entries: Any) -> list[str]:
        ids = original(self, entries)
        if len(entries) > 1:  # the relay's batch, not a single raw publish
            print(f"crashing after publishing {len(entries)} entries", file=sys.stderr, flush=True)
            os._exit(9)
        return ids

    RedisBroker.publish_encoded = publish_then_die  # type: ignore[method-assign]


def _crash_in_first_move() -> None:
    from archipel.engine.relay_direct import DirectPath

    def route_then_die(self: Any, row: Any) -> str:
        print("crashing in the middle of a direct move", file=sys.stderr, flush=True)
        os._exit(9)

    DirectPath._route = route_then_die  # type: ignore[method-assign]


def _watch_consumers(path: str) -> None:
    """Every 20 s, append each consumer's state and its streams' pending entries to ``path``."""
    import gc
    import threading
    import time

    from archipel.engine.consumer import Consumer

    def describe(c: Any) -> str:
        now = time.monotonic()
        lines = [f"{c.sub.name.rsplit('.', 1)[-1]}: owned={sorted(c.ownership.owned)} taken_over={c._taken_over} "
                 f"resync={c._resync} running={sorted(c._running)} lost={sorted(c.runner.lost)} handled={c.handled}"]
        for n, part in sorted(c.parts.items()):
            items = [i for q in part.queues.values() for i in q]
            lines.append(
                f"  part {n}: running={part.running} inbox={len(part.inbox)} queued={len(items)} "
                f"deliveries={sum(1 for i in items if i.deliveries)} done={sum(1 for i in items if i.done)} "
                f"retrying={sum(1 for i in items if i.attempts)} "
                f"waiting={max([i.next_at - now for i in items] or [0]):.1f}s"
            )
        try:
            for stream in c.sub.broker_streams(c.settings):
                key = c.broker._key(stream)
                info = c.broker._client.xpending(key, c.group)
                groups = [g for g in c.broker._client.xinfo_groups(key) if g["name"].decode() == c.group]
                lag = groups[0].get("lag") if groups else None
                if info["pending"] or lag:
                    lines.append(f"  {stream}: pending={info['pending']} by {info['consumers']} lag={lag}")
        except Exception as exc:  # noqa: BLE001 - a diagnostic
            lines.append(f"  (broker: {exc!r})")
        return "\n".join(lines)

    def loop() -> None:
        while True:
            time.sleep(20)
            consumers = [o for o in gc.get_objects() if isinstance(o, Consumer)]
            with open(path, "a") as out:
                out.write(f"--- {time.strftime('%H:%M:%S')}\n")
                for c in consumers:
                    try:
                        out.write(describe(c) + "\n")
                    except Exception as exc:  # noqa: BLE001 - a diagnostic
                        out.write(f"{exc!r}\n")

    threading.Thread(target=loop, daemon=True, name="test-watch").start()


def main() -> int:
    faulthandler.enable()  # a crash of the interpreter leaves its stacks in the log
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: where it waits
    state_dir = os.environ.get("ARCHIPEL_TEST_STATE_DIR")  # the consumers' state every 20 s
    if state_dir:
        _watch_consumers(os.path.join(state_dir, f"state-{os.getpid()}.txt"))
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(process)d %(threadName)s %(name)s %(levelname)s %(message)s",
    )
    from archipel.engine import run_server
    from tests.engine.bank import build_bank

    config = json.loads(os.environ["ARCHIPEL_TEST_CONFIG"])
    bank = build_bank(os.environ["ARCHIPEL_TEST_DOMAIN"], config)
    bank.init(traverse=False)
    if os.environ.get("ARCHIPEL_TEST_TRACE"):
        from tests.reliability._trace import install

        install(os.environ["ARCHIPEL_TEST_TRACE"])
    if os.environ.get("ARCHIPEL_TEST_CRASH_AFTER_PUBLISH"):
        _crash_after_first_publish()
    if os.environ.get("ARCHIPEL_TEST_CRASH_IN_MOVE"):
        _crash_in_first_move()
    port = os.environ.get("ARCHIPEL_TEST_HEALTH_PORT")
    workers = int(os.environ.get("ARCHIPEL_TEST_WORKERS", "1"))
    with bank.domain_context():
        return run_server(bank, workers=workers, health_port=int(port) if port else None)


if __name__ == "__main__":
    sys.exit(main())
