"""One engine worker process for the reliability tests.

``python -m tests.reliability.worker`` builds the bank domain named by
``ARCHIPEL_TEST_DOMAIN`` with the JSON config in ``ARCHIPEL_TEST_CONFIG``
and runs :func:`archipel.engine.run_server` until SIGTERM. Fault hooks:

- ``ARCHIPEL_TEST_CRASH_AFTER_PUBLISH=1``: the process dies (``os._exit``)
  right after the relay's first publish, before it marks the rows sent.
- ``ARCHIPEL_TEST_DELAY``: seconds the projector sleeps per event.
- ``ARCHIPEL_TEST_FIX_FILE``: poison deposits fail until this file exists.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any


def _crash_after_first_publish() -> None:
    from archipel.adapters.redis.broker import RedisBroker

    original = RedisBroker.publish_many

    def publish_then_die(self: Any, entries: Any) -> list[str]:
        ids = original(self, entries)
        if len(entries) > 1:  # the relay's batch, not a single raw publish
            print(f"crashing after publishing {len(entries)} entries", file=sys.stderr, flush=True)
            os._exit(9)
        return ids

    RedisBroker.publish_many = publish_then_die  # type: ignore[method-assign]


def main() -> int:
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
    port = os.environ.get("ARCHIPEL_TEST_HEALTH_PORT")
    workers = int(os.environ.get("ARCHIPEL_TEST_WORKERS", "1"))
    with bank.domain_context():
        return run_server(bank, workers=workers, health_port=int(port) if port else None)


if __name__ == "__main__":
    sys.exit(main())
