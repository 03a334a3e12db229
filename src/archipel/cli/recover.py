"""``archipel recover``: after an event-store restore, what the restore left stale (Protean's ``protean recover``).

``--verify-checkpoints`` reports every recorded event-store position past the
restored head (the catch-up record of each event handler, projector and process
manager, the rebuild record of each projection: :mod:`archipel.engine.restore_check`
says why these are archipel's checkpoints) and every dead letter whose message the
restored store no longer holds (Protean's stale recovery-tracking entries).
``--reset-beyond-head`` (with ``--verify-checkpoints``) snaps each such position
back to the head and purges each such dead letter; nothing else ever writes.

Exit statuses, as Protean's: 0 consistent (or all reset), 1 a position beyond head
or a stale dead letter (without ``--reset-beyond-head``), 2 wrong usage, a domain
that cannot be loaded, or a reset that failed. ``--json`` prints Protean's envelope
``{"version", "status": "pass"|"fail"|"error", "data", "diagnostics"}`` with
``data.subscriptions`` (``name``, ``handler_name``, ``stream_category``,
``checkpoint_position``, ``head_position``, ``beyond_head``, ``verdict``; and
``record``: ``catch_up`` or ``projection_rebuild``) and ``data.summary`` counts;
``data.recovery`` (``stale_dead_letters`` besides Protean's keys) and
``data.summary.recovery_*`` only when a dead letter is stale or unknown;
``data.reset`` / ``data.reset_failures`` (and ``recovery_reset*``) only with
``--reset-beyond-head``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from archipel.cli._console import CliError, err, out
from archipel.cli._domain import DomainOption, load_domain
from archipel.cli._json import print_json
from archipel.cli.check_formats import ENVELOPE_VERSION

if TYPE_CHECKING:
    from archipel.domain.domain import Domain
    from archipel.engine.restore_check import CheckpointStatus, RecoveryFinding

__all__ = ["recover", "verdict_of"]

_VERDICT_CELL = {
    "beyond_head": "[red]beyond head[/red]",
    "unknown": "[yellow]unknown[/yellow]",
    "consistent": "[green]consistent[/green]",
}


def _number(position: str | None) -> int | None:
    try:
        return None if position is None else int(position)
    except ValueError:
        return None


def verdict_of(current: str | None, head: str | None) -> str:
    """``beyond_head`` (checkpoint past the head), ``consistent``, or ``unknown`` (either unreadable)."""
    checkpoint, top = _number(current), _number(head)
    if checkpoint is None or top is None:
        return "unknown"
    return "beyond_head" if checkpoint > top else "consistent"


def _envelope(status: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"version": ENVELOPE_VERSION, "status": status, "data": data, "diagnostics": []}


def _usage_error(as_json: bool, message: str) -> None:
    if as_json:
        print_json(_envelope("error", {"error": message}))
    raise CliError(message, code=2)


def _resets(domain: Domain, statuses: list[CheckpointStatus], verdicts: list[str]) -> tuple[list[Any], list[Any]]:
    from archipel.engine.restore_check import reset_checkpoint

    done: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for status, verdict in zip(statuses, verdicts, strict=True):
        if verdict != "beyond_head":
            continue
        names = {"name": status.name, "handler_name": status.handler_name, "stream_category": status.stream_category}
        try:
            new = reset_checkpoint(domain, status)
        except Exception as exc:  # one unwritable record must not strand the others
            failed.append({**names, "error": str(exc)})
            continue
        done.append({**names, "record": status.record, "previous_position": status.current_position,
                     "new_position": str(new)})
    return done, failed


def _recovery_resets(domain: Domain, stale: list[RecoveryFinding]) -> tuple[list[Any], list[Any]]:
    from archipel.engine.restore_check import clear_stale_letters

    done: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for finding in stale:
        names = {"name": finding.name, "handler_name": finding.handler_name,
                 "stream_category": finding.stream_category}
        try:
            cleared = clear_stale_letters(domain, finding)
        except Exception as exc:
            failed.append({**names, "error": str(exc)})
            continue
        done.append({**names, "cleared_positions": list(finding.stale_positions), "cleared_dead_letters": cleared})
    return done, failed


def recover(
    verify_checkpoints: Annotated[bool, typer.Option(
        "--verify-checkpoints",
        help="Flag recorded positions past the restored head and dead letters whose message the restore removed.",
    )] = False,
    reset_beyond_head: Annotated[bool, typer.Option(
        "--reset-beyond-head",
        help="Snap each beyond-head position back to the head and purge each stale dead letter "
        "(requires --verify-checkpoints).",
    )] = False,
    domain: DomainOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print Protean's JSON envelope instead of a table.")] = False,
) -> None:
    """Recover a domain after an event-store restore.

    Exit 0 consistent, 1 a position past the restored head or a stale dead letter,
    2 wrong usage or a reset that failed (Protean's codes).
    """
    if reset_beyond_head and not verify_checkpoints:
        _usage_error(as_json, "--reset-beyond-head requires --verify-checkpoints.")
    if not verify_checkpoints:
        out().print("Nothing to do. Pass --verify-checkpoints to report checkpoints past the restored "
                    "head and stale recovery-tracking entries (dead letters).")
        return
    try:
        loaded = load_domain(domain)
    except CliError as exc:
        if as_json:
            print_json(_envelope("error", {"error": exc.message}))
        raise
    from archipel.engine.restore_check import checkpoint_statuses, recovery_findings

    with loaded.domain_context():
        statuses = checkpoint_statuses(loaded)
        verdicts = [verdict_of(s.current_position, s.head_position) for s in statuses]
        findings = recovery_findings(loaded)
        stale = [f for f in findings if f.verdict == "stale"]
        resets: list[Any] = []
        reset_failures: list[Any] = []
        recovery_resets: list[Any] = []
        recovery_failures: list[Any] = []
        if reset_beyond_head:
            resets, reset_failures = _resets(loaded, statuses, verdicts)
            recovery_resets, recovery_failures = _recovery_resets(loaded, stale)
    beyond = verdicts.count("beyond_head")
    if reset_failures or recovery_failures:
        status, code = "error", 2
    elif (beyond or stale) and not reset_beyond_head:
        status, code = "fail", 1
    else:
        status, code = "pass", 0
    if as_json:
        print_json(_envelope(status, _data(statuses, verdicts, findings, reset_beyond_head,
                                           (resets, reset_failures, recovery_resets, recovery_failures))))
    else:
        _render(loaded.name, statuses, verdicts, findings, reset_beyond_head,
                (resets, reset_failures, recovery_resets, recovery_failures))
    if code:
        raise typer.Exit(code)


def _data(
    statuses: list[CheckpointStatus], verdicts: list[str], findings: list[RecoveryFinding],
    reset: bool, outcome: tuple[list[Any], list[Any], list[Any], list[Any]],
) -> dict[str, Any]:
    resets, reset_failures, recovery_resets, recovery_failures = outcome
    summary: dict[str, Any] = {
        "checked": len(statuses),
        "consistent": verdicts.count("consistent"),
        "beyond_head": verdicts.count("beyond_head"),
        "unknown": verdicts.count("unknown"),
    }
    data: dict[str, Any] = {
        "subscriptions": [
            {"name": s.name, "handler_name": s.handler_name, "stream_category": s.stream_category,
             "checkpoint_position": s.current_position, "head_position": s.head_position,
             "beyond_head": v == "beyond_head", "verdict": v, "record": s.record}
            for s, v in zip(statuses, verdicts, strict=True)
        ],
        "summary": summary,
    }
    if reset:
        summary.update(reset=len(resets), reset_failed=len(reset_failures))
        data.update(reset=resets, reset_failures=reset_failures)
    if findings:
        stale = [f for f in findings if f.verdict == "stale"]
        data["recovery"] = [
            {"name": f.name, "handler_name": f.handler_name, "stream_category": f.stream_category,
             "recovery_checkpoint_stream": f.table, "head_position": f.head_position, "verdict": f.verdict,
             "stale_positions": f.stale_positions, "stale_dead_letters": f.stale_letters}
            for f in findings
        ]
        summary["recovery_stale"] = len(stale)
        summary["recovery_stale_positions"] = sum(len(f.stale_letters) for f in stale)
        summary["recovery_unknown"] = len(findings) - len(stale)
        if reset:
            summary["recovery_reset"] = sum(len(r["cleared_dead_letters"]) for r in recovery_resets)
            summary["recovery_reset_failed"] = len(recovery_failures)
            data.update(recovery_reset=recovery_resets, recovery_reset_failures=recovery_failures)
    return data


def _render(
    name: str, statuses: list[CheckpointStatus], verdicts: list[str], findings: list[RecoveryFinding],
    reset: bool, outcome: tuple[list[Any], list[Any], list[Any], list[Any]],
) -> None:
    console = out()
    resets, reset_failures, recovery_resets, recovery_failures = outcome
    if statuses:
        table = Table(title=f"Checkpoint verification: {escape(name)}", title_justify="left")
        for column in ("Handler", "Record", "Stream", "Checkpoint", "Head", "Verdict"):
            table.add_column(column, justify="right" if column in ("Checkpoint", "Head") else "left",
                             style="bold" if column == "Handler" else None, no_wrap=column == "Handler")
        for s, v in zip(statuses, verdicts, strict=True):
            table.add_row(escape(s.handler_name), s.record.replace("_", " "), escape(s.stream_category),
                          s.current_position or "-", s.head_position or "-", _VERDICT_CELL[v])
        console.print(table)
    else:
        console.print("No event-store subscriptions or projection rebuilds found in domain.")
    stale = [f for f in findings if f.verdict == "stale"]
    unknown_findings = [f for f in findings if f.verdict == "unknown"]
    beyond = [s for s, v in zip(statuses, verdicts, strict=True) if v == "beyond_head"]
    if reset:
        for line in _reset_lines(resets, reset_failures, recovery_resets, recovery_failures, bool(stale)):
            console.print(line)
    else:
        if beyond:
            console.print(f"\n[red]{len(beyond)} of {len(statuses)} checkpoint(s) point past the restored "
                          "head.[/red] Reset them before starting the engine.")
        for finding in stale:
            console.print(f"\n[red]{len(finding.stale_letters)} dead letter(s) of {escape(finding.handler_name)} "
                          "name a message the restored store no longer holds[/red] (a replay would handle an "
                          f"event that no longer exists): {', '.join(finding.stale_letters)}")
    projections = sorted({s.handler_name for s in beyond if s.record == "projection_rebuild"})
    for projection in projections:
        console.print(f"[yellow]{escape(projection)} was rebuilt from events the restored store no longer "
                      f"holds:[/yellow] archipel projection rebuild --projection {escape(projection)}")
    unknown = verdicts.count("unknown")
    if unknown:
        console.print(f"[yellow]{unknown} could not be verified (no position recorded, or the store cannot "
                      "tell its head).[/yellow]")
    for finding in unknown_findings:
        err().print(f"[yellow]the dead letters of {escape(finding.handler_name)} could not be verified: "
                    f"{escape(finding.error or '')}[/yellow]")
    if not (beyond or stale or unknown or unknown_findings or reset) and statuses:
        console.print(f"\n[green]All {len(statuses)} checkpoint(s) consistent with the stream head.[/green]")


def _reset_lines(
    resets: list[Any], reset_failures: list[Any], recovery_resets: list[Any], recovery_failures: list[Any],
    any_stale: bool,
) -> list[str]:
    lines: list[str] = []
    if resets:
        lines.append(f"\n[green]Reset {len(resets)} beyond-head checkpoint(s) to the stream head:[/green]")
        lines += [f"  {escape(r['handler_name'])} ({escape(r['stream_category'])}): "
                  f"{r['previous_position']} -> {r['new_position']}" for r in resets]
    elif not reset_failures and not any_stale:
        lines.append("\n[green]No beyond-head checkpoints to reset.[/green]")
    if reset_failures:
        lines.append(f"\n[red]{len(reset_failures)} checkpoint(s) could not be reset:[/red]")
        lines += [f"  {escape(f['handler_name'])} ({escape(f['stream_category'])}): {escape(f['error'])}"
                  for f in reset_failures]
    if recovery_resets:
        cleared = sum(len(r["cleared_dead_letters"]) for r in recovery_resets)
        lines.append(f"\n[green]Purged {cleared} dead letter(s) whose message the restore removed:[/green]")
        lines += [f"  {escape(r['handler_name'])}: {', '.join(r['cleared_dead_letters'])}" for r in recovery_resets]
    if recovery_failures:
        lines.append(f"\n[red]{len(recovery_failures)} subscription(s)' dead letters could not be purged:[/red]")
        lines += [f"  {escape(f['handler_name'])}: {escape(f['error'])}" for f in recovery_failures]
    return lines
