"""``Engine`` (Protean's ``protean.server.Engine``): the async engine as an object.

A façade over :func:`archipel.engine.run_server` (the engine's code stays in
:mod:`archipel.engine`, its layer; see docs/porting.md)::

    from archipel.server import Engine

    engine = Engine(domain, test_mode=True)
    engine.run()        # relays the outbox, runs every subscription; in test mode
                        # it returns once everything pending is handled
"""

from __future__ import annotations

import logging
from typing import Any

from archipel.engine.server import run_server

__all__ = ["Engine"]


class Engine:
    """Runs ``domain``'s outbox relay and subscriptions.

    ``test_mode``: stop as soon as everything pending has been relayed and
    handled (tests, scripts). ``debug``: log the engine at DEBUG level.
    ``workers`` / ``health_port``: as ``archipel server --workers/--health-port``.
    """

    def __init__(
        self,
        domain: Any,
        test_mode: bool = False,
        debug: bool = False,
        *,
        workers: int = 1,
        health_port: int | None = None,
    ) -> None:
        self.domain = domain
        self.test_mode = test_mode
        self.debug = debug
        self.workers = workers
        self.health_port = health_port
        self.exit_code: int | None = None

    def run(self) -> int:
        """Run until SIGTERM/SIGINT (or, in test mode, until idle); return the exit code."""
        if self.debug:
            logging.getLogger("archipel.engine").setLevel(logging.DEBUG)
        self.exit_code = run_server(
            self.domain, workers=self.workers, health_port=self.health_port, test_mode=self.test_mode
        )
        return self.exit_code
