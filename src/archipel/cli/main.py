"""The ``archipel`` command: assembles the command groups and owns error handling.

Every failure ends as one red line and a hint on stderr with exit status 1
(the operation failed) or 2 (wrong usage, domain not loadable); tracebacks
appear only with ``--debug`` (anywhere on the command line) or
``ARCHIPEL_DEBUG=1``.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from typing import Annotated

import typer

import archipel
from archipel.cli import database, dlq, events, projection, schema, snapshot, subscriptions
from archipel.cli._console import CliError, out, print_error
from archipel.cli.observatory import observatory
from archipel.cli.server import server
from archipel.cli.shell import shell
from archipel.errors import ArchipelError, ConfigurationError, IncorrectUsageError

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="archipel",
    help="archipel: bounded contexts with DDD, CQRS and event sourcing.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks on errors (also ARCHIPEL_DEBUG=1).")
    ] = False,
) -> None:
    """archipel: bounded contexts with DDD, CQRS and event sourcing."""
    # --debug is taken off the command line by run(); declared here for --help


@app.command(rich_help_panel="Other")
def version() -> None:
    """Show the archipel and Python versions."""
    out().print(f"archipel {archipel.__version__} (Python {platform.python_version()})")


app.command()(shell)
app.add_typer(database.app, name="database")
app.command()(server)
app.add_typer(events.app, name="events")
app.add_typer(dlq.app, name="dlq")
app.add_typer(subscriptions.app, name="subscriptions")
app.add_typer(snapshot.app, name="snapshot")
app.add_typer(projection.app, name="projection")
app.add_typer(schema.app, name="schema")
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


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    debug, args = _take_debug(list(sys.argv[1:] if argv is None else argv))
    debug = debug or _env_debug()
    command = typer.main.get_command(app)
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
