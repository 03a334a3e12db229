"""A tiny health endpoint: ``GET /health`` (and Protean's ``/livez``, ``/readyz``) on 127.0.0.1 (stdlib only).

Answers ``200`` with a JSON report while the server runs, ``503`` once it is
stopping (so a load balancer or orchestrator stops sending work). The
report holds counters and names only — never configuration or secrets.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["HealthServer"]

log = logging.getLogger("archipel.engine.health")

#: the address the endpoint binds: loopback only, never all interfaces
HOST = "127.0.0.1"


#: the paths answered: archipel's, and Protean's probes (liveness and readiness read the same report)
PATHS = frozenset({"/", "/health", "/healthz", "/livez", "/readyz"})
#: how many ports past the first ``auto_increment`` tries
AUTO_INCREMENT_TRIES = 100


class HealthServer:
    """Serve ``report()`` as JSON on ``host:port`` (loopback by default) in a daemon thread.

    ``auto_increment`` (Protean's ``port_auto_increment``): when the port is taken, try the
    next ones, so several servers can share a host; ``port`` is then the one bound.
    """

    def __init__(
        self, port: int, report: Callable[[], dict[str, Any]], host: str = HOST, auto_increment: bool = False
    ) -> None:
        self.report = report
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.split("?")[0] not in PATHS:
                    self.send_error(404)
                    return
                try:
                    body = outer.report()
                    status = 200 if body.get("status") == "ok" else 503
                except Exception as exc:  # a broken report is itself unhealthy
                    body, status = {"status": "error", "error": type(exc).__name__}, 503
                data = json.dumps(body, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("health: " + format, *args)

        self._server = _bind(host, port, Handler, AUTO_INCREMENT_TRIES if auto_increment and port else 1)
        self.host = host
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="archipel-health", daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health endpoint on http://%s:%d/health", self.host, self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _bind(host: str, port: int, handler: type[BaseHTTPRequestHandler], tries: int) -> ThreadingHTTPServer:
    """A server bound to ``host:port``, or to the first free of the ``tries`` ports from it."""
    for offset in range(tries):
        try:
            return ThreadingHTTPServer((host, port + offset), handler)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or offset == tries - 1 or port + offset >= 65535:
                raise
            log.info("health port %d is taken; trying %d", port + offset, port + offset + 1)
    raise AssertionError("unreachable")
