"""``archipel server``: the async engine for one domain (outbox relay, subscriptions)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from archipel.cli import _engine
from archipel.cli._console import err
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli._logs import LogFormatOption, LogLevelOption, setup_logging

__all__ = ["server"]


def server(
    domain: DomainOption = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Worker processes sharing the subscriptions.")
    ] = 1,
    health_port: Annotated[
        int | None,
        typer.Option(
            "--health-port", min=1, max=65535, help="Serve /health on this port.", show_default=False
        ),
    ] = None,
    test_mode: Annotated[
        bool, typer.Option("--test-mode", help="Process what is pending, then exit.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=1,
            max=65535,
            help="Serve Prometheus /metrics on this port (needs the metrics extra).",
            show_default=False,
        ),
    ] = None,
    trace: Annotated[
        bool,
        typer.Option(
            "--trace",
            help="Trace message handling with OpenTelemetry's global tracer provider "
            "(run under opentelemetry-instrument, or configure it in code; extra otel).",
        ),
    ] = False,
    log_format: LogFormatOption = None,
    log_level: LogLevelOption = None,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload",
            help="Restart the server when a .py or .toml file under the working directory "
            "changes (development only; extra reload).",
        ),
    ] = False,
) -> None:
    """Run the async processing server for one domain until SIGTERM/Ctrl-C."""
    if reload:
        if workers > 1:
            raise typer.BadParameter("--reload runs one worker; leave out --workers", param_hint="--reload")
        from archipel.cli.reloader import run_with_reload

        raise typer.Exit(run_with_reload(sys.argv[1:], [Path.cwd()], test_mode=test_mode))
    setup_logging(log_format, log_level)
    if trace:
        from archipel.utils.tracing import enable_tracing

        enable_tracing()
    loaded = load_domain(domain)
    plural = "s" if workers != 1 else ""
    err().print(f"[dim]archipel server: domain {escape(loaded.name)}, {workers} worker{plural}[/]")
    with loaded.domain_context():
        code = _engine.run_server(
            loaded,
            workers=workers,
            health_port=health_port,
            test_mode=test_mode,
            metrics_port=metrics_port,
        )
    raise typer.Exit(code)
