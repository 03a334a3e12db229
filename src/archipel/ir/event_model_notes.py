"""Human notes on the event model: ``annotations.toml`` (``--annotations``, default
``.archipel/annotations.toml``).

The file is Protean 0.18's: ``[annotations."app.orders.PlaceOrder"]`` with a
non-empty string ``note`` and an optional string ``owner``, keyed by the
dotted path of an element the model draws. A note renders in the slice that
draws its element; a key that matches nothing (a rename, a typo) is reported
under ``## Unmatched annotations``, never dropped in silence.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from archipel.ir.event_model import indexes, slice_targets

__all__ = ["drawn_paths", "load_annotations", "render_unmatched", "unmatched"]

_BACKTICKS = re.compile(r"`+")


def load_annotations(path: Path) -> dict[str, dict[str, Any]]:
    """The notes of ``path``: dotted path → ``{"note": str}`` (plus ``"owner"``).

    A ``ValueError`` names the file when it cannot be read, is not UTF-8 or
    TOML, or an entry is not a table with a non-empty string ``note`` (and a
    string ``owner`` when given).
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ValueError(f"Could not read {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not valid UTF-8: {exc}") from exc
    try:
        table = tomllib.loads(text).get("annotations", {})
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"Invalid TOML in {path}: {exc}") from exc
    if not isinstance(table, dict):
        raise ValueError(f"'annotations' in {path} must be a table")
    notes: dict[str, dict[str, Any]] = {}
    for key, entry in table.items():
        if not isinstance(entry, dict):
            raise ValueError(f"Annotation for {key!r} in {path} must be a table with a string 'note'")
        note = entry.get("note")
        if not isinstance(note, str) or not note.strip():
            raise ValueError(f"Annotation for {key!r} in {path} must have a non-empty string 'note'")
        notes[key] = {"note": note}
        if "owner" in entry:
            if not isinstance(entry["owner"], str):
                raise ValueError(f"'owner' for {key!r} in {path} must be a string")
            notes[key]["owner"] = entry["owner"]
    return notes


def drawn_paths(ir: dict[str, Any]) -> set[str]:
    """Every dotted path the event model draws, over all slices."""
    index = indexes(ir)
    found: set[str] = set()
    for path, cluster in ir.get("clusters", {}).items():
        found |= slice_targets(index, path, cluster or {})
    return found


def unmatched(ir: dict[str, Any], notes: dict[str, dict[str, Any]]) -> list[str]:
    """The keys of ``notes`` that name nothing the model draws, sorted."""
    if not notes:
        return []
    drawn = drawn_paths(ir)
    return sorted(key for key in notes if key not in drawn)


def _code(text: str) -> str:
    """``text`` as a Markdown code span that no backtick inside can close early."""
    marks = "`" * (max((len(run) for run in _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if not text or text.startswith("`") or text.endswith("`") else ""
    return f"{marks}{pad}{text}{pad}{marks}"


def render_unmatched(keys: list[str]) -> str:
    """The ``## Unmatched annotations`` report of ``keys`` (``""`` when none); a key's line
    breaks become spaces."""
    if not keys:
        return ""
    head = ["## Unmatched annotations", "", "These annotation keys match no element in the model:", ""]
    return "\n".join(head + [f"- {_code(' '.join(key.splitlines()))}" for key in keys])
