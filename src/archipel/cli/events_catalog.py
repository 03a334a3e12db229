"""``archipel events catalog``: every event with its version, deprecation, upcasters and consumers.

Protean's ``protean events catalog``: built from the domain's IR (not the
event store), so it reads a live domain (``--domain``) or an IR file
(``--ir``, e.g. ``.archipel/ir.json``); ``--json`` prints the result
envelope with the entries under ``data.events``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from archipel.cli._console import UsageError, out
from archipel.cli._json import print_json
from archipel.cli.check_formats import ENVELOPE_VERSION
from archipel.cli.ir import live_ir, read_ir_file
from archipel.ir.catalog import build_event_catalog, format_deprecated, format_upcaster_chain

__all__ = ["catalog"]


def catalog(
    domain: Annotated[str, typer.Option("--domain", "-d", help="The domain's module or path.")] = "",
    ir: Annotated[str, typer.Option("--ir", help="An IR JSON file (archipel ir show).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="The catalog as JSON (data.events).")] = False,
) -> None:
    """List every event with version, deprecation, upcasters, and consumers (from the IR)."""
    if bool(domain) == bool(ir):
        raise UsageError("provide either --domain or --ir" if not domain else
                         "--domain and --ir are mutually exclusive")
    entries = build_event_catalog(live_ir(domain) if domain else read_ir_file(ir))
    if as_json:
        print_json({"version": ENVELOPE_VERSION, "status": "pass", "data": {"events": entries},
                    "diagnostics": []})
        return
    console = out()
    if not entries:
        console.print("No events found in domain.")
        return
    table = Table(title="Event Catalog")
    for title, style in (("Event", "green"), ("Type", "cyan"), ("Ver", None), ("Deprecated", None),
                         ("Superseded By", None), ("Upcasters", None), ("Consumers", "dim")):
        table.add_column(title, style=style, justify="right" if title == "Ver" else "left")
    for entry in entries:
        table.add_row(*(escape(str(cell)) for cell in (
            entry["name"], entry["type"], entry["version"], format_deprecated(entry["deprecated"]),
            entry["superseded_by"] or "-", format_upcaster_chain(entry["upcasters"]),
            ", ".join(entry["consumers"]) or "-",
        )))
    console.print(table)
    console.print(f"\n{len(entries)} event(s)")
