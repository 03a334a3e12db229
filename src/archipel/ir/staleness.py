"""Is the committed IR (``.archipel/ir.json``) still what the code builds? (``archipel ir check``)

The stored ``checksum`` is compared with the live domain's. A stored
``ir_version`` other than :data:`~archipel.ir.SCHEMA_VERSION` is a
version mismatch: checksums of two IR formats are not comparable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archipel.ir import SCHEMA_VERSION
from archipel.ir.builder import IRBuilder
from archipel.ir.config import CompatConfig, load_config

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["StalenessResult", "StalenessStatus", "check_staleness", "load_stored_ir"]

IR_FILENAME = "ir.json"


class StalenessStatus(StrEnum):
    """The outcome of a check (its value is what ``--format json`` prints)."""

    FRESH = "fresh"
    STALE = "stale"
    NO_IR = "no_ir"
    VERSION_MISMATCH = "version_mismatch"


@dataclass(frozen=True)
class StalenessResult:
    """What :func:`check_staleness` found."""

    status: StalenessStatus
    domain_checksum: str | None
    stored_checksum: str | None
    ir_file: Path | None
    stored_version: str | None = None
    current_version: str | None = None


def load_stored_ir(directory: Path | str) -> tuple[dict[str, Any], Path] | None:
    """``(ir, path)`` of ``<directory>/ir.json``; ``None`` when there is none; ``ValueError`` when it
    cannot be read or is not a JSON object."""
    path = Path(directory) / IR_FILENAME
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"Could not read {path}: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"Invalid JSON in {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object (an IR is one)")
    return data, path


def check_staleness(
    domain: Domain, directory: Path | str = ".archipel", *, config: CompatConfig | None = None
) -> StalenessResult:
    """Compare the initialised ``domain``'s IR checksum with ``<directory>/ir.json``."""
    config = config if config is not None else load_config(directory)
    if not config.staleness_enabled:
        return StalenessResult(StalenessStatus.FRESH, None, None, None)
    stored = load_stored_ir(directory)
    if stored is None:
        return StalenessResult(StalenessStatus.NO_IR, None, None, None)
    stored_ir, path = stored
    raw_checksum = stored_ir.get("checksum")
    stored_checksum = str(raw_checksum) if raw_checksum is not None else None
    raw_version = stored_ir.get("ir_version")
    if raw_version is not None and str(raw_version) != SCHEMA_VERSION:
        return StalenessResult(
            StalenessStatus.VERSION_MISMATCH, None, stored_checksum, path.resolve(), str(raw_version), SCHEMA_VERSION
        )
    live = IRBuilder(domain).build()["checksum"]
    status = StalenessStatus.FRESH if live == stored_checksum else StalenessStatus.STALE
    return StalenessResult(status, live, stored_checksum, path.resolve())
