"""Console output shared by every command: Rich consoles, errors, confirmations.

Consoles are created per call rather than at import time so that they write
to whatever ``sys.stdout``/``sys.stderr`` are *now* (pytest's capture, Typer's
test runner) and pick up ``NO_COLOR``/``COLUMNS`` from the current environment;
Rich itself honours both.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

__all__ = [
    "CliError",
    "UsageError",
    "confirm",
    "err",
    "out",
    "print_error",
    "progress",
    "success",
    "warn",
]


class CliError(Exception):
    """An error the user can act on: shown as one red line plus a hint, no traceback.

    ``code`` is the process exit status (1: the operation failed; 2: the
    command was used wrongly or the domain could not be loaded).
    """

    def __init__(self, message: str, hint: str | None = None, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


class UsageError(CliError):
    """The command line itself is wrong (exit status 2)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, code=2)


def out() -> Console:
    """A console on standard output (results)."""
    return Console(highlight=False)


def err() -> Console:
    """A console on standard error (errors, warnings, progress notes)."""
    return Console(stderr=True, highlight=False)


def print_error(message: str, hint: str | None = None) -> None:
    """Print ``message`` as one red line on stderr, then ``hint`` dimmed."""
    console = err()
    console.print(f"[bold red]Error:[/] [red]{escape(message)}[/]", soft_wrap=True)
    if hint:
        console.print(f"[dim]Hint: {escape(hint)}[/]", soft_wrap=True)


def warn(message: str) -> None:
    """Print a yellow warning line on stderr."""
    err().print(f"[bold yellow]Warning:[/] [yellow]{escape(message)}[/]", soft_wrap=True)


def success(message: str) -> None:
    """Print a green check line on stdout; ``message`` may contain Rich markup."""
    out().print(f"[green]✓[/] {message}", soft_wrap=True)


def confirm(question: str, yes: bool) -> None:
    """Ask ``question`` unless ``yes``; refuse when nobody can answer.

    Without a terminal on stdin (scripts, CI) there is no one to ask, and a
    destructive command must not guess: it stops and names ``--yes``.
    """
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"{question.rstrip('?')}: refusing without confirmation (no terminal to ask on)",
            hint="pass --yes to confirm",
        )
    if not typer.confirm(question, default=False):
        raise CliError("cancelled, nothing was changed")


@contextmanager
def progress(start: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr while long work runs (on a terminal only; nothing in scripts):
    ``with progress("reading the log") as note: ... note("read 5000 messages")``."""
    console = err()
    if not console.is_terminal:
        yield lambda text: None
        return
    with console.status(escape(start)) as status:
        yield lambda text: status.update(escape(text))
