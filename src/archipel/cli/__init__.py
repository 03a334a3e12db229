"""The ``archipel`` command-line interface (Typer + Rich).

One module per command group: :mod:`.database`, :mod:`.shell`, :mod:`.server`,
:mod:`.events`, :mod:`.dlq`, :mod:`.subscriptions`, :mod:`.observatory`;
:mod:`.main` assembles them and turns errors into one red line and an exit code.
"""

from archipel.cli.main import app, main, run

__all__ = ["app", "main", "run"]
