"""``archipel ir show|diff|check``: the domain's IR (Protean's ``protean ir``).

``show`` prints the IR (Protean's JSON format, schema v0.3.0; see
:mod:`archipel.ir`), ``--canonical`` without the timestamp for a committed
baseline (``archipel ir show --canonical > .archipel/ir.json``), or
``--format summary``. ``diff`` compares two IRs and exits 0 (no change),
1 (breaking change, or an error, as Protean's) or 2 (compatible changes
only); ``check`` tells whether ``.archipel/ir.json`` matches the code:
0 fresh, 1 stale, 2 no baseline (or an error), 3 built by another IR
version. Settings: ``.archipel/config.toml`` (:mod:`archipel.ir.config`).
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer

from archipel.cli._console import CliError, out
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli.ir_render import compatibility_block, print_diff, print_summary
from archipel.ir.builder import IRBuilder
from archipel.ir.compat import classify_changes
from archipel.ir.config import CompatConfig, load_config
from archipel.ir.constants import canonical_ir_json
from archipel.ir.diff import diff_ir
from archipel.ir.event_model_diff import event_model_diff
from archipel.ir.fields import IRError
from archipel.ir.git import GitError, load_ir_from_commit
from archipel.ir.staleness import StalenessResult, StalenessStatus, check_staleness, load_stored_ir

__all__ = ["app"]

app = typer.Typer(help="Inspect the domain's Intermediate Representation (IR).", no_args_is_help=True)

_SHOW_HINT = "archipel ir show --domain <module> --canonical > .archipel/ir.json"
_CHECK_EXIT = {
    StalenessStatus.FRESH: 0,
    StalenessStatus.STALE: 1,
    StalenessStatus.NO_IR: 2,
    StalenessStatus.VERSION_MISMATCH: 3,
}
Dir = Annotated[str, typer.Option("--dir", help="The folder of ir.json and config.toml.")]


def _choice(value: str, allowed: tuple[str, ...], code: int) -> None:
    if value not in allowed:
        raise CliError(f"invalid --format: {value!r}. Choose from: {', '.join(allowed)}", code=code)


def live_ir(spec: str | None, code: int = 1) -> dict[str, Any]:
    """The IR of the domain ``spec``; a failure exits ``code`` (Protean: 1, ``check``: 2)."""
    try:
        return IRBuilder(load_domain(spec)).build()
    except CliError as exc:
        raise CliError(exc.message, exc.hint, code=code) from exc
    except IRError as exc:
        raise CliError(f"could not build the IR: {exc}", code=code) from exc
    except Exception as exc:  # the CLI's edge: the user's domain code may raise anything (Protean's too)
        raise CliError(f"could not load the domain: {type(exc).__name__}: {exc}", code=code,
                       hint="rerun with --debug for the traceback") from exc


def read_ir_file(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise CliError(f"file not found or not a regular file: {path}")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"could not read {path}: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"invalid JSON in {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CliError(f"IR file is not a JSON object: {path}")
    return data


def _config(directory: str, code: int) -> CompatConfig:
    try:
        return load_config(directory)
    except ValueError as exc:
        raise CliError(f"Invalid {directory}/config.toml: {exc}", code=code) from exc


@app.command()
def show(
    domain: DomainOption = None,
    format: Annotated[str, typer.Option("--format", "-f", help="'json' (default) or 'summary'.")] = "json",
    canonical: Annotated[
        bool, typer.Option("--canonical", help="Leave out 'generated_at' (for a committed .archipel/ir.json).")
    ] = False,
) -> None:
    """Show the domain's IR."""
    _choice(format, ("json", "summary"), 1)
    ir = live_ir(domain)
    if format == "summary":
        print_summary(ir)
    else:
        typer.echo(canonical_ir_json(ir) if canonical else json.dumps(ir, indent=2, sort_keys=True))


@app.command()
def diff(
    left: Annotated[str, typer.Option("--left", "-l", help="The baseline IR file.")] = "",
    right: Annotated[str, typer.Option("--right", "-r", help="The current IR file.")] = "",
    domain: Annotated[str, typer.Option(
        "--domain", "-d",
        help="The domain module: the current side (alone or with --base), the baseline with --right.",
    )] = "",
    base: Annotated[str, typer.Option(
        "--base", "-b", help="A git revision to read the baseline <dir>/ir.json from (needs --domain).",
    )] = "",
    dir: Dir = ".archipel",
    format: Annotated[str, typer.Option(
        "--format", "-f", help="'text' (default), 'json', or 'event-model' (the changes as EventModeling slices).",
    )] = "text",
) -> None:
    """Compare two IRs: --left/--right files, --domain with --right, --domain alone (against
    <dir>/ir.json) or --domain --base REF. Exit 0: no change, 1: breaking (or error), 2: compatible."""
    _choice(format, ("text", "json", "event-model"), 1)
    config = _config(dir, 1)
    if config.strictness == "off":
        out().print("[dim]Compatibility checking is disabled (strictness=off).[/dim]")
        raise typer.Exit(0)
    baseline, current = _sides(left, right, domain, base, dir)
    result = diff_ir(baseline, current)
    report = classify_changes(result, baseline, current)
    if config.exclude:
        report.breaking_changes = [c for c in report.breaking_changes if not config.is_excluded(c.element_fqn)]
        report.safe_changes = [c for c in report.safe_changes if not config.is_excluded(c.element_fqn)]
    if format == "json":
        result["compatibility"] = compatibility_block(report)
        typer.echo(json.dumps(result, indent=2, sort_keys=True))
    elif format == "event-model":
        typer.echo(event_model_diff(result, left_ir=baseline, right_ir=current))
    else:
        print_diff(result, report)
    summary = result["summary"]
    if not summary["has_changes"]:
        raise typer.Exit(0)
    if report.is_breaking or summary["has_breaking_changes"]:
        if config.strictness == "warn":
            if report.is_breaking:
                out().print("[yellow]Warning:[/yellow] Breaking changes detected (strictness=warn, not blocking).")
            raise typer.Exit(0)
        raise typer.Exit(1)
    raise typer.Exit(2)


def _sides(left: str, right: str, domain: str, base: str, directory: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(baseline, current)`` for the mode the options name."""
    if base and not domain:
        raise CliError("--base requires --domain")
    if base and (left or right):
        raise CliError("--base cannot be combined with --left/--right")
    if left and domain:
        raise CliError("--left and --domain are mutually exclusive")
    if left and not right:
        raise CliError("--right is required when using --left")
    if not left and not domain:
        raise CliError("provide either --left or --domain")
    if base:
        try:
            baseline = load_ir_from_commit(base, PurePosixPath(directory, "ir.json").as_posix())
        except GitError as exc:
            raise CliError(str(exc)) from exc
        return baseline, live_ir(domain)
    if domain and not right:
        return _stored(directory), live_ir(domain)
    if domain:
        return live_ir(domain), read_ir_file(right)
    return read_ir_file(left), read_ir_file(right)


def _stored(directory: str) -> dict[str, Any]:
    try:
        stored = load_stored_ir(directory)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if stored is None:
        raise CliError(
            f"No materialized IR found in '{directory}/ir.json'.",
            hint=f"run `{_SHOW_HINT}` to generate one, or use --left/--right to name files",
        )
    return stored[0]


@app.command()
def check(
    domain: DomainOption = None,
    dir: Dir = ".archipel",
    format: Annotated[str, typer.Option("--format", "-f", help="'text' (default) or 'json'.")] = "text",
) -> None:
    """Is <dir>/ir.json still what the code builds? Exit 0: fresh, 1: stale, 2: none (or an
    error), 3: written by another IR version."""
    _choice(format, ("text", "json"), 1)  # Protean aborts (1) here, before its exit-2 errors
    config = _config(dir, 2)
    try:
        loaded = load_domain(domain)
    except CliError as exc:
        raise CliError(exc.message, exc.hint, code=2) from exc
    except Exception as exc:  # as Protean's check: any failure to load is exit 2
        raise CliError(f"could not load the domain: {type(exc).__name__}: {exc}", code=2) from exc
    try:
        result = check_staleness(loaded, dir, config=config)
    except (ValueError, IRError) as exc:
        raise CliError(str(exc), code=2) from exc
    if format == "json":
        typer.echo(json.dumps({
            "current_version": result.current_version,
            "domain_checksum": result.domain_checksum,
            "ir_file": str(result.ir_file) if result.ir_file else None,
            "status": result.status.value,
            "stored_checksum": result.stored_checksum,
            "stored_version": result.stored_version,
        }, indent=2, sort_keys=True))
    else:
        _print_check(result, dir)
    raise typer.Exit(_CHECK_EXIT[result.status])


def _print_check(result: StalenessResult, directory: str) -> None:
    console = out()
    if result.status is StalenessStatus.FRESH:
        console.print("[green]IR is fresh.[/green]")
        if result.domain_checksum:
            console.print(f"  checksum: {result.domain_checksum[:16]}…")
        return
    if result.status is StalenessStatus.STALE:
        console.print("[yellow]IR is stale: the domain has changed since last materialization.[/yellow]")
        console.print(f"  stored:  {(result.stored_checksum or '?')[:16]}…", markup=False)
        console.print(f"  current: {(result.domain_checksum or '?')[:16]}…")
        console.print(f"  file:    {result.ir_file}", markup=False)
        console.print(f"\n  Run [bold]{_SHOW_HINT}[/bold] to update.")
        return
    if result.status is StalenessStatus.VERSION_MISMATCH:
        console.print(
            f"IR schema version mismatch: the materialized baseline was built against schema "
            f"{result.stored_version}, but the current schema is {result.current_version}.",
            markup=False, style="yellow",
        )
        console.print(f"  file:    {result.ir_file}", markup=False)
        console.print(f"\n  Regenerate the baseline: [bold]{_SHOW_HINT}[/bold].")
        return
    console.print(f"No materialized IR found in '{result.ir_file or directory}'.", markup=False, style="red")
    console.print(f"\n  Run [bold]{_SHOW_HINT}[/bold] to generate one.")
