"""``archipel schema dump|check``: the contract of what a domain publishes.

``dump`` writes the JSON Schema of every integration event (``published=True``)
and command to a file to keep under version control; ``check`` compares the
code with that file and exits 1, with a readable list of changes, when a
change would break consumers (see :mod:`archipel.domain.contracts`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from archipel.cli._console import CliError, out, success
from archipel.cli._domain import DomainOption, load_domain
from archipel.domain.contracts import compare_contracts, domain_contract

__all__ = ["app"]

app = typer.Typer(help="Dump and check the contract of published events and commands.", no_args_is_help=True)

FileOption = Annotated[
    Path | None,
    typer.Option("--file", "-f", help="Contract file (default: <domain>.contract.json here).", show_default=False),
]


def _default(name: str) -> Path:
    return Path(f"{name}.contract.json")


@app.command()
def dump(domain: DomainOption = None, file: FileOption = None) -> None:
    """Write the contract (JSON Schema per message type) to a file."""
    loaded = load_domain(domain)
    path = file or _default(loaded.snake_name)
    contract = domain_contract(loaded)
    path.write_text(json.dumps(contract, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    count = len(contract["messages"])
    success(f"wrote {count} message schema{'s' if count != 1 else ''} of {escape(loaded.name)} to {escape(str(path))}")


@app.command()
def check(domain: DomainOption = None, file: FileOption = None) -> None:
    """Compare the code with the contract file; exit 1 on a breaking change."""
    loaded = load_domain(domain)
    path = file or _default(loaded.snake_name)
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(
            f"no contract file {path}", hint="write it with `archipel schema dump` and commit it"
        ) from None
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not JSON: {exc}") from None
    comparison = compare_contracts(loaded, recorded)
    console = out()
    for change in comparison.changes:
        mark = "[bold red]BREAKING[/]" if change.breaking else "[green]ok[/]      "
        console.print(f"{mark} {escape(change.message)}: {escape(change.text)}")
    if comparison.breaking:
        raise CliError(
            f"{len(comparison.breaking)} breaking change(s) to the contract of {loaded.name}",
            hint="keep the old fields, or bump the message's __version__ and add an upcaster "
            "from the old version; then `archipel schema dump`",
        )
    if not comparison.changes:
        success(f"{escape(loaded.name)} matches {escape(str(path))}")
    else:
        success(f"{escape(loaded.name)}: compatible changes only (run `archipel schema dump` to record them)")
