"""``archipel observatory``: the live dashboard for one or more domains."""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape

from archipel.cli._console import CliError, err, warn
from archipel.cli._domain import DomainsOption, load_domains
from archipel.cli._logs import LogFormatOption, LogLevelOption, setup_logging
from archipel.domain.domain import Domain
from archipel.utils.signals import relay_signals

__all__ = ["is_loopback", "observatory"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _browsable(host: str) -> str:
    """The host to put in a URL: a wildcard address is reached through loopback."""
    bare = host.strip("[]")
    if bare in ("", "0.0.0.0"):
        return "127.0.0.1"
    if bare == "::":
        return "[::1]"
    return f"[{bare}]" if ":" in bare else bare


def _check_port(host: str, port: int) -> None:
    # uvicorn reports a taken port as a log line and a bare exit; say it plainly
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise CliError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="choose another --port (or stop what is using it)",
            ) from exc


def observatory(
    domain: DomainsOption = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; anything but loopback exposes the dashboard.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port to listen on.")] = 9000,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            help="Another host name the dashboard is reached under (a proxy's); repeatable. "
            "Loopback names and --host are always allowed.",
            show_default=False,
        ),
    ] = None,
    remote_actions: Annotated[
        bool,
        typer.Option(
            "--allow-remote-actions",
            help="Accept replay/purge from other machines too (still CSRF- and Origin-checked).",
        ),
    ] = False,
    title: Annotated[
        str | None, typer.Option("--title", help="The dashboard's title (Protean's option).", show_default=False)
    ] = None,
    log_format: LogFormatOption = None,
    log_level: LogLevelOption = None,
) -> None:
    """Serve the observatory dashboard: handlers, events, outbox and dead letters, live."""
    setup_logging(log_format, log_level)
    try:
        import uvicorn

        from archipel.observatory.app import create_app
    except ImportError as exc:
        raise CliError(
            f"the observatory needs the web extra ({exc})",
            hint="pip install 'archipel[web]'",
        ) from exc
    domains = load_domains(domain)
    if not is_loopback(host):
        warn(
            f"binding to {host}: the dashboard (events and their data, no authentication) "
            "is reachable from other machines"
        )
    _check_port(host, port)
    if not _wait_for_storage(domains):
        err().print("[dim]observatory stopped while waiting for the database or the broker[/]")
        return
    app = create_app(
        domains, allowed_hosts=[host, *(allow_host or [])], remote_actions=remote_actions, title=title
    )
    url = f"http://{_browsable(host)}:{port}/"
    err().print(
        f"[bold]archipel observatory[/] for {escape(', '.join(d.name for d in domains))} at "
        f"[link={url}]{escape(url)}[/link] [dim](Ctrl-C to stop)[/]"
    )
    with _stop_signals_are_success():
        # short graceful shutdown: open SSE streams would otherwise hold SIGTERM up
        uvicorn.run(
            app,
            host=host.strip("[]"),
            port=port,
            log_level="warning",
            log_config=None,  # our handler on the root logger formats uvicorn's lines too
            timeout_graceful_shutdown=2,
        )
    err().print("[dim]observatory stopped[/]")


def _wait_for_storage(domains: list[Domain]) -> bool:
    """Wait (backoff, logged) until every domain's database and broker answer; False on SIGTERM.

    Read-only: nothing is created (see :mod:`archipel.engine.startup`).
    """
    from archipel.engine.startup import wait_until_reachable

    stop = threading.Event()
    with _signals_set(stop):
        for domain in domains:
            with domain.domain_context():
                if not wait_until_reachable(domain, stop, create_tables=False):
                    return False
    return True


@contextmanager
def _signals_set(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set ``stop`` (main thread only) for the duration (from a relay
    thread: setting an event inside the handler can wait forever on its lock)."""
    undo = relay_signals((signal.SIGTERM, signal.SIGINT), lambda _: stop.set())
    try:
        yield
    finally:
        undo()


@contextmanager
def _stop_signals_are_success() -> Iterator[None]:
    """Make SIGTERM/SIGINT after a graceful shutdown end the process with status 0.

    uvicorn shuts down on these signals, then re-raises them to the handlers
    that were installed before it started; with Python's defaults that kills
    the process (-15) or raises KeyboardInterrupt (130). Asking the dashboard
    to stop is not a failure, so the handlers seen by that re-raise do nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
