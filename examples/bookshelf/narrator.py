"""The story's voice: Rich output, and the checks that keep the story honest.

Every step of the story states what it expects; :meth:`Narrator.expect`
stops the run with :class:`StoryError` (exit status 1) when the application
did something else, so the story doubles as an end-to-end test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from rich.console import Console, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

_UUID = re.compile(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # piped into a file or a CI log: no terminal to fit, so use lines a bit
        # longer than Rich's default of 80 (fewer wrapped ids and messages)
        console = Console(highlight=False, width=100)
    return console


def explain(error: Exception) -> str:
    """A refusal in words: ``field: message; ...`` for validation errors."""
    messages = getattr(error, "messages", None)
    if isinstance(messages, dict):
        return "; ".join(
            f"{field}: {text}" if field != "_entity" else text
            for field, texts in messages.items()
            for text in texts
        )
    return str(error)


class StoryError(Exception):
    """The application did not do what the story expected."""


def short(text: Any) -> str:
    """UUIDs shortened to their first 8 digits, which is plenty to tell them apart on screen."""
    return _UUID.sub(r"\1", str(text))


def money(amount: Decimal | str | None, currency: str | None = "USD") -> str:
    if amount is None:
        return "-"
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    return f"${value}" if (currency or "USD") == "USD" else f"{value} {currency}"


class Narrator:
    """Prints the story (unless ``quiet``) and checks its expectations."""

    def __init__(self, *, quiet: bool = False, console: Console | None = None) -> None:
        self.quiet = quiet
        self.console = console or _console()
        self._chapter = 0

    def show(self, renderable: RenderableType = "") -> None:
        if not self.quiet:
            self.console.print(renderable)

    def title(self, heading: str, subtitle: str) -> None:
        self.show(Panel(Text(subtitle), title=f"[bold]{heading}[/]", expand=False))

    def chapter(self, heading: str, intro: str) -> None:
        self._chapter += 1
        self.show("")
        self.show(f"[bold cyan]{self._chapter}. {heading}[/]")
        self.show(f"[dim]{intro}[/]")

    def _line(self, indent: int, marker: str, what: str, *, shorten: bool = True) -> None:
        # a grid keeps wrapped text aligned after the marker
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=indent)
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row("", marker, Text(short(what) if shorten else what))
        self.show(grid)

    def step(self, what: str) -> None:
        """Something the story does (usually a command sent with ``domain.process``)."""
        self._line(1, "[bold]>[/]", what)

    def result(self, what: str) -> None:
        """What the application did in response."""
        self._line(3, "[green]ok[/]", what)

    def rejected(self, what: str) -> None:
        """A refusal the story expected (validation, conflicts)."""
        self._line(3, "[yellow]refused[/]", what)

    def note(self, what: str, *, shorten: bool = True) -> None:
        self._line(3, "", what, shorten=shorten)

    def table(self, heading: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        table = Table(title=heading, title_justify="left", title_style="bold", show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(short(cell) if cell is not None else "-" for cell in row))
        self.show(table)

    def expect(self, condition: bool, expectation: str) -> None:
        """Stop the story if ``condition`` is false: the app broke a promise."""
        if not condition:
            raise StoryError(f"expected {expectation}")
