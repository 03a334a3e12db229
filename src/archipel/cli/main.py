"""The ``archipel`` command: assembles the command groups and owns error handling.

Exit status: 0 ok; 1 not found or the operation failed; 2 wrong usage (or
the domain could not be loaded). Every failure ends as one red line and a
hint on stderr; tracebacks appear only with ``--debug`` (anywhere on the
command line) or ``ARCHIPEL_DEBUG=1``. Listing and status commands take
``--json`` (:mod:`archipel.cli._json`). ``archipel --install-completion``
installs shell completion (bash, zsh, fish, PowerShell).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

import archipel
from archipel.cli import (
    database,
    dlq,
    docs,
    event_reads,
    events,
    events_catalog,
    eventstore,
    idempotency,
    ir,
    outbox,
    projection,
    schema,
    snapshot,
    subscriptions,
)
from archipel.cli._console import CliError, out, print_error
from archipel.cli._json import JsonOption, print_json
from archipel.cli._logs import (
    LogConfigOption,
    LogFormat,
    LogLevel,
    apply_global_logging,
)
from archipel.cli.add import add
from archipel.cli.check import check
from archipel.cli.new import new
from archipel.cli.observatory import observatory
from archipel.cli.recover import recover
from archipel.cli.server import server
from archipel.cli.shell import shell
from archipel.cli.upgrade import upgrade_check
from archipel.cli.verify import verify
from archipel.errors import ArchipelError, ConfigurationError, IncorrectUsageError

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="archipel",
    help=(
        "archipel: bounded contexts with DDD, CQRS and event sourcing.\n\n"
        "Exit status: 0 ok, 1 not found or failed, 2 wrong usage. "
        "Listings take --json for scripts."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        out().print(f"archipel {archipel.__version__} (Python {platform.python_version()})")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks on errors (also ARCHIPEL_DEBUG=1).")
    ] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", help="Show the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            "--log-level",
            help="Logging level for any command (Protean's option).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(
            "--log-format",
            help="Log lines as console text or JSON; auto: JSON in production/staging.",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    log_config: LogConfigOption = None,
) -> None:
    """archipel: bounded contexts with DDD, CQRS and event sourcing.

    Exit status: 0 ok, 1 not found or failed, 2 wrong usage.
    """
    # --debug is taken off the command line by run(); declared here for --help
    apply_global_logging(log_level, log_format, log_config)


@app.command(rich_help_panel="Other")
def version(as_json: JsonOption = False) -> None:
    """Show the archipel and Python versions."""
    if as_json:
        print_json({"archipel": archipel.__version__, "python": platform.python_version()})
        return
    out().print(f"archipel {archipel.__version__} (Python {platform.python_version()})")


app.command()(new)
app.command()(add)
app.command()(shell)
app.add_typer(database.app, name="database")
# Protean's name for the same group (``protean db setup`` ports as ``archipel db setup``)
app.add_typer(database.app, name="db", hidden=True)
app.command()(check)
app.command()(verify)
app.command()(server)
app.command()(recover)
app.command("upgrade-check")(upgrade_check)
for _name in ("read", "search", "history", "stats"):  # Protean's `protean events ...`
    events.app.command(_name)(getattr(event_reads, _name))
events.app.command("catalog")(events_catalog.catalog)
app.add_typer(events.app, name="events")
app.add_typer(eventstore.app, name="eventstore")
app.add_typer(dlq.app, name="dlq")
app.add_typer(idempotency.app, name="idempotency")
app.add_typer(outbox.app, name="outbox")
app.add_typer(subscriptions.app, name="subscriptions")
app.add_typer(snapshot.app, name="snapshot")
app.add_typer(projection.app, name="projection")
app.add_typer(schema.app, name="schema")
app.add_typer(ir.app, name="ir")
app.add_typer(docs.app, name="docs")
app.command()(observatory)


def _take_debug(args: list[str]) -> tuple[bool, list[str]]:
    """Remove ``--debug`` wherever it appears (before ``--``); say if it was there."""
    end = args.index("--") if "--" in args else len(args)
    kept = [a for a in args[:end] if a != "--debug"] + args[end:]
    return len(kept) != len(args), kept


def _env_debug() -> bool:
    return os.environ.get("ARCHIPEL_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


def _status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message") semantics
    return 1


_PLAIN_TYPES = {
    "<str>": "TEXT",
    "<int>": "INTEGER",
    "<int range>": "INTEGER",
    "<float>": "NUMBER",
    "<float range>": "NUMBER",
    "<Path>": "PATH",
    "<list[str]>": "TEXT",
}


def _without_type_noise(command: Any) -> Any:
    """Help shows ``--yes`` rather than ``--yes <bool>``, and TEXT rather than ``<str>``.

    (Typer vendors its own Click: parameters are recognised by their attributes.)
    """
    for param in command.params:
        if getattr(param, "param_type_name", "") != "option":
            # arguments keep their names (ID, letter_id); the name says enough without a type
            param.display_type_rich = lambda ctx: None
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.metavar is None:
            try:
                label = param.display_type_rich(None)
            except Exception:  # a type Typer cannot describe without a context: leave it
                continue
            if label in _PLAIN_TYPES:
                param.metavar = _PLAIN_TYPES[label]
    make_help = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = make_help(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        _without_type_noise(sub)
    return command


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    debug, args = _take_debug(list(sys.argv[1:] if argv is None else argv))
    debug = debug or _env_debug()
    command = _without_type_noise(typer.main.get_command(app))
    try:
        command.main(args=args, prog_name="archipel", standalone_mode=True)
    except SystemExit as exc:
        return _status(exc.code)
    except CliError as exc:
        if debug:
            raise
        print_error(exc.message, exc.hint)
        return exc.code
    except (ConfigurationError, IncorrectUsageError) as exc:
        if debug:
            raise
        print_error(str(exc), "rerun with --debug for the traceback")
        return 2
    except ArchipelError as exc:
        if debug:
            raise
        print_error(f"{type(exc).__name__}: {exc}", "rerun with --debug for the traceback")
        return 1
    except Exception as exc:
        if debug:
            raise
        print_error(
            f"unexpected {type(exc).__name__}: {exc}",
            "rerun with --debug for the traceback",
        )
        return 1
    return 0


def main() -> None:
    """Console-script entry point (``archipel``)."""
    sys.exit(run())
