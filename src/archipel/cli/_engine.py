"""The CLI's only door into :mod:`archipel.engine` (server, dead letters, status).

The engine is imported lazily, when a command needs it, so that ``--help``
and the database commands never pay for it; a missing or broken engine
becomes one clear error instead of a traceback. Tests replace these three
functions to exercise the commands without a running engine.
"""

from __future__ import annotations

import importlib
from typing import Any

from archipel.cli._console import CliError
from archipel.domain.domain import Domain

__all__ = ["dead_letter_store", "run_server", "subscription_status"]


def _engine_attr(module_name: str, attr: str) -> Any:
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(
            f"the archipel engine is not available ({module_name}: {exc})",
            hint="reinstall archipel; rerun with --debug for the traceback",
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise CliError(
            f"{module_name} has no {attr}(): this archipel engine is incomplete",
            hint="reinstall archipel",
        ) from exc


def run_server(
    domain: Domain,
    *,
    workers: int,
    health_port: int | None,
    test_mode: bool,
    metrics_port: int | None = None,
) -> int:
    """Run the async server for ``domain`` until it stops; return its exit status."""
    run = _engine_attr("archipel.engine", "run_server")
    extra = {"metrics_port": metrics_port} if metrics_port is not None else {}
    return int(run(domain, workers=workers, health_port=health_port, test_mode=test_mode, **extra))


def dead_letter_store(domain: Domain) -> Any:
    """The domain's dead-letter store (list/get/replay/replay_all/purge/purge_all)."""
    return _engine_attr("archipel.engine.dlq", "dead_letter_store")(domain)


def subscription_status(domain: Domain) -> list[Any]:
    """One status row (name, kind, streams, lag, pending, dlq_depth) per subscription."""
    return list(_engine_attr("archipel.engine.status", "subscription_status")(domain))
