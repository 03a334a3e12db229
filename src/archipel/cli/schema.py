"""``archipel schema dump|check|generate|show|render``: JSON Schemas and DDL of a domain.

``dump`` writes the JSON Schema of every integration event (``published=True``)
and command to a file to keep under version control; ``check`` compares the
code with that file and exits 1, with a readable list of changes, when a
change would break consumers (see :mod:`archipel.domain.contracts`).

Protean's ``generate`` (a JSON Schema file per data-carrying element, under
``<output>/schemas/``, see :mod:`archipel.domain.element_schemas`), ``show
ELEMENT`` (one of them on stdout) and ``render --indexes`` (the ``CREATE
INDEX`` statements of declared indexes, per dialect) work from the live
domain; archipel has no IR file (``--ir``) and writes JSON Schema only (no
Avro or Protobuf). The default output folder is ``.archipel`` (Protean's
``.protean``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from archipel.cli._console import CliError, UsageError, out, success, warn
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli._json import JsonOption, print_json
from archipel.domain.contracts import compare_contracts, domain_contract
from archipel.domain.element_schemas import element_schemas, fqn, schema_paths, short_name

__all__ = ["app"]

app = typer.Typer(
    help="JSON Schemas of the domain's elements, the contract of published messages, index DDL.",
    no_args_is_help=True,
)

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


OutputOption = Annotated[
    Path, typer.Option("--output", "-o", help="Output folder (Protean's is .protean).")
]
IrOption = Annotated[
    str | None,
    typer.Option("--ir", help="Protean's IR file: not in archipel (use --domain).", show_default=False),
]


def _no_ir(ir: str | None) -> None:
    if ir:
        raise UsageError("--ir: archipel has no IR file", hint="give the live domain with --domain")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path.resolve()


def _list_files(loaded_name: str, output: Path, written: list[Path], what: str, as_json: bool) -> None:
    if as_json:
        print_json({"domain": loaded_name, "output": str(output), "files": [str(p) for p in written]})
        return
    success(f"Wrote {len(written)} {what} to {escape(str(output / 'schemas'))}/")
    for path in written:
        out().print(f"  {escape(str(path))}", soft_wrap=True)


@app.command()
def generate(
    domain: DomainOption = None,
    ir: IrOption = None,
    output: OutputOption = Path(".archipel"),
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Schema format: json (Avro and Protobuf are Protean's only).")
    ] = "json",
    as_json: JsonOption = False,
) -> None:
    """Generate schema files for all data-carrying domain elements.

    One JSON Schema per aggregate, entity, value object, command, event and
    projection, in <output>/schemas/ (replaced as a whole: stale files go).
    """
    _no_ir(ir)
    if fmt != "json":
        raise UsageError(f"unknown --format {fmt!r}: archipel writes json only",
                         hint="drop --format (Avro and Protobuf are not generated)")
    loaded = load_domain(domain)
    files = schema_paths(loaded)
    target = output / "schemas"
    if target.exists():
        shutil.rmtree(target)
    written = [_write(output / relative, json.dumps(schema, indent=2, sort_keys=True) + "\n")
               for relative, (_, schema) in files.items()]
    _list_files(loaded.name, output, written, "schema files", as_json)


def _resolve(name: str, schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if name in schemas:
        return schemas[name]
    matches = [path for path in schemas if short_name(path) == name]
    if len(matches) == 1:
        return schemas[matches[0]]
    if matches:
        raise UsageError(f"several elements are named {name!r}: {', '.join(sorted(matches))}",
                         hint="give the dotted path of one of them")
    raise CliError(f"no element {name!r}; elements: {', '.join(sorted(schemas)) or 'none'}",
                   hint="give a class name or its dotted path")


@app.command()
def show(
    element: Annotated[str, typer.Argument(help="Element name or dotted path (FQN).", show_default=False)],
    domain: DomainOption = None,
    ir: IrOption = None,
    raw: Annotated[bool, typer.Option("--raw", "--json", help="Plain JSON (for piping).")] = False,
) -> None:
    """Show the JSON Schema of one domain element."""
    _no_ir(ir)
    loaded = load_domain(domain)
    schema = _resolve(element, element_schemas(loaded))
    text = json.dumps(schema, indent=2, sort_keys=True)
    if raw:
        typer.echo(text)
        return
    from rich.syntax import Syntax

    out().print(Syntax(text, "json", word_wrap=True))


@app.command()
def render(
    domain: DomainOption = None,
    indexes: Annotated[bool, typer.Option("--indexes", help="Render index DDL to .sql files.")] = False,
    dialects: Annotated[
        str, typer.Option("--dialects", help="Comma-separated dialects (postgresql, sqlite).")
    ] = "postgresql,sqlite",
    output: OutputOption = Path(".archipel"),
    as_json: JsonOption = False,
) -> None:
    """Render DDL artifacts from a live domain (--indexes: CREATE INDEX per dialect).

    Writes <output>/schemas/<Element>/<table>.indexes.<dialect>.sql for review or for
    your migration tool; nothing is executed (`archipel db setup` creates the indexes).
    """
    from archipel.adapters.sql.ddl_render import check_dialect, render_index_ddl
    from archipel.errors import IncorrectUsageError

    if not indexes:
        raise UsageError("nothing to render", hint="pass --indexes")
    chosen = [d.strip() for d in dialects.split(",") if d.strip()]
    if not chosen:
        raise UsageError("--dialects is empty", hint="e.g. --dialects postgresql,sqlite")
    for dialect in chosen:
        try:
            check_dialect(dialect)
        except IncorrectUsageError as exc:
            raise UsageError(f"--dialects: {exc}") from None
    loaded = load_domain(domain)
    written: list[Path] = []
    for schema in sorted(loaded.schemas, key=lambda s: s.table):
        for dialect in chosen:
            statements = render_index_ddl(schema, dialect)
            if not statements:
                continue
            header = (f"-- Generated by: archipel schema render --indexes\n"
                      f"-- Element: {fqn(schema.cls)}\n-- Dialect: {dialect}\n\n")
            body = "\n".join(f"{statement};" for statement in statements) + "\n"
            path = output / "schemas" / schema.cls.__name__ / f"{schema.table}.indexes.{dialect}.sql"
            written.append(_write(path, header + body))
    if not written and not as_json:
        warn("No index declarations found on any aggregate, entity, or projection.")
        return
    _list_files(loaded.name, output, sorted(written), "index DDL files", as_json)
