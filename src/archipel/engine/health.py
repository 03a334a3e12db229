"""A tiny health endpoint: ``GET /health`` on 127.0.0.1 (stdlib only).

Answers ``200`` with a JSON report while the server runs, ``503`` once it is
stopping (so a load balancer or orchestrator stops sending work). The
report holds counters and names only — never configuration or secrets.
"""

from __future__ import annotations

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


class HealthServer:
    """Serve ``report()`` as JSON on ``127.0.0.1:port`` in a daemon thread."""

    def __init__(self, port: int, report: Callable[[], dict[str, Any]]) -> None:
        self.report = report
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.split("?")[0] not in ("/", "/health", "/healthz"):
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

        self._server = ThreadingHTTPServer((HOST, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="archipel-health", daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health endpoint on http://%s:%d/health", HOST, self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
