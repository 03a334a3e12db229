"""``archipel docs generate|preview``: architecture documentation from the domain's IR.

Protean 0.18's ``protean docs``. ``generate`` draws, from a live domain
(``--domain``, else ``$ARCHIPEL_DOMAIN`` or ``./domain.py``) or an IR file
(``--ir``), the ``--type`` it is asked for: ``clusters`` (class diagrams),
``events`` (event flows), ``handlers`` (handler wiring), ``catalog`` (Markdown
tables of events and commands), ``event-model`` (the EventModeling slice
timeline, with the notes of ``--annotations``, default
``.archipel/annotations.toml``), ``llms`` (the ``llms.txt`` context pack; no
source needed), ``agents`` (the ``AGENTS.md`` pack of hard rules, one per error code
archipel's exceptions carry; no source read) or ``all`` (the first four).
``--format markdown`` fences each diagram under a title; ``mermaid`` prints the raw
diagrams. The text is Protean's for the same IR (:mod:`archipel.ir.docs`).
``preview`` runs ``mkdocs serve``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

import archipel
from archipel.cli._console import CliError, UsageError, out
from archipel.cli.docs_snapshot import load_snapshot_config
from archipel.cli.ir import live_ir, read_ir_file
from archipel.ir.docs import FORMATS, render
from archipel.ir.docs_agents import generate_agents_md
from archipel.ir.docs_llms import llms_txt
from archipel.ir.event_model_notes import load_annotations

__all__ = ["app"]

app = typer.Typer(help="Generate and preview architecture documentation.", no_args_is_help=True)

TYPES = ("clusters", "events", "handlers", "catalog", "event-model", "llms", "agents", "all")
DEFAULT_ANNOTATIONS = Path(".archipel") / "annotations.toml"
_NOT_MERMAID = {
    "catalog": "catalog outputs Markdown tables, not Mermaid diagrams",
    "llms": "llms outputs a Markdown context pack, not Mermaid diagrams",
    "agents": "agents outputs a Markdown constraint pack, not Mermaid diagrams",
}


def _validate(doc_type: str, fmt: str, domain: str, ir: str, cluster: str, annotations: str, check: bool) -> None:
    if doc_type not in TYPES:
        raise UsageError(f"invalid --type: {doc_type!r}. Choose from: {', '.join(TYPES)}")
    if fmt not in FORMATS:
        raise UsageError(f"invalid --format: {fmt!r}. Choose from: {', '.join(FORMATS)}")
    if domain and ir:
        raise UsageError("--domain and --ir are mutually exclusive")
    if cluster and doc_type not in ("clusters", "all"):
        raise UsageError("--cluster can only be used with --type=clusters or --type=all")
    if annotations and doc_type != "event-model":
        raise UsageError("--annotations can only be used with --type=event-model")
    if check and doc_type != "llms":
        raise UsageError("--check can only be used with --type=llms")
    if fmt == "mermaid" and doc_type in _NOT_MERMAID:
        raise UsageError(f"--format=mermaid is not supported for --type={doc_type} ({_NOT_MERMAID[doc_type]})")


def _notes(doc_type: str, option: str) -> dict[str, dict[str, Any]]:
    """The event model's notes: ``--annotations`` (which must exist), else the default file if any."""
    if doc_type != "event-model":
        return {}
    path = Path(option) if option else DEFAULT_ANNOTATIONS
    if not path.exists():
        if option:
            raise CliError(f"annotations file not found: {option}")
        return {}
    try:
        return load_annotations(path)
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def _write(path: str, content: str) -> None:
    """Write ``content`` as UTF-8 with no newline translation, creating the parent folders."""
    target = Path(path)
    if target.is_dir():
        raise CliError(f"--output {path} is a folder: name the file to write (e.g. {target / 'architecture.md'})")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8", newline="")
    except OSError as exc:
        raise CliError(f"could not write {path}: {exc}") from exc


def _check(path: str, content: str) -> None:
    """Exit 0 when ``path`` holds ``content`` byte for byte, 1 when it differs or is missing."""
    target = Path(path)
    hint = "Run `archipel docs generate --type=llms` to {} it."
    console = out()
    if not target.exists():
        console.print(f"[yellow]Snapshot drift:[/yellow] {escape(path)} does not exist. " + hint.format("create"),
                      soft_wrap=True)
        raise typer.Exit(1)
    if target.read_bytes() != content.encode("utf-8"):
        console.print(f"[yellow]Snapshot drift:[/yellow] {escape(path)} is out of date. " + hint.format("refresh"),
                      soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"[green]{escape(path)} is up to date.[/green]", soft_wrap=True)
    raise typer.Exit(0)


@app.command()
def generate(
    domain: Annotated[str, typer.Option(
        "--domain", "-d",
        help="The domain's module or path. Default: $ARCHIPEL_DOMAIN, else ./domain.py (not for llms).",
    )] = "",
    ir: Annotated[str, typer.Option("--ir", help="An IR JSON file (archipel ir show).")] = "",
    type: Annotated[str, typer.Option(
        "--type", "-t", help="clusters, events, handlers, catalog, event-model, llms, agents, or all (default).",
    )] = "all",
    format: Annotated[str, typer.Option(
        "--format", "-f", help="'markdown' (fenced diagrams, default) or 'mermaid' (raw diagrams).",
    )] = "markdown",
    output: Annotated[str, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = "",
    cluster: Annotated[str, typer.Option(
        "--cluster", help="One cluster's dotted path (with --type clusters or all).",
    )] = "",
    annotations: Annotated[str, typer.Option(
        "--annotations", help="Notes for --type event-model (default: .archipel/annotations.toml when present).",
    )] = "",
    check: Annotated[bool, typer.Option(
        "--check", help="With --type llms: compare the snapshot file with a fresh render; exit 1 on drift.",
    )] = False,
) -> None:
    """Generate architecture documentation from the domain or an IR file."""
    _validate(type, format, domain, ir, cluster, annotations, check)
    if type == "agents":  # from archipel's error codes alone: no source is read
        agents = generate_agents_md(version=archipel.__version__)
        if output:
            _write(output, agents)
            out().print(f"[green]Documentation written to {escape(output)}[/green]", soft_wrap=True)
        else:
            typer.echo(agents)
        return
    snapshot = load_snapshot_config() if type == "llms" else None
    source = domain or (snapshot.domain if snapshot else "")
    target = output or (snapshot.path if snapshot else "")
    data: dict[str, Any] | None
    if ir:
        data = read_ir_file(ir)
    elif source or type != "llms":
        data = live_ir(source or None)  # None: $ARCHIPEL_DOMAIN, else ./domain.py
    else:
        data = None  # llms without a source: the framework layer alone
    if cluster and data is not None and cluster not in data.get("clusters", {}):
        known = ", ".join(sorted(data.get("clusters", {}))) or "none"
        raise UsageError(f"unknown --cluster: {cluster!r}. The domain's clusters: {known}")
    notes = _notes(type, annotations)
    if type == "llms":
        content = llms_txt(data, version=archipel.__version__)
    else:
        assert data is not None  # every type but llms loaded a source above
        content = render(data, type, format, cluster=cluster, notes=notes)
    if check:
        if not target:
            raise UsageError("--check needs a snapshot path: set [tool.archipel.docs].domain_snapshot or pass --output")
        _check(target, content)
    if target:
        _write(target, content)
        out().print(f"[green]Documentation written to {escape(target)}[/green]", soft_wrap=True)
    else:
        typer.echo(content)


@app.command()
def preview() -> None:
    """Run mkdocs' live preview server on port 8000 (needs mkdocs and a mkdocs.yml here)."""
    if importlib.util.find_spec("mkdocs") is None:
        raise CliError("mkdocs is not installed", hint="pip install mkdocs")
    if not any(Path(name).is_file() for name in ("mkdocs.yml", "mkdocs.yaml")):
        raise CliError(f"no mkdocs.yml in {Path.cwd()}: preview serves the mkdocs site of the current folder")
    code = 0
    with contextlib.suppress(KeyboardInterrupt):
        code = subprocess.call([sys.executable, "-m", "mkdocs", "serve", "--livereload", "--dev-addr=0.0.0.0:8000"])
    if code:
        raise typer.Exit(code)
