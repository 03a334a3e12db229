"""The machine formats of ``archipel check --format`` (Protean's ``protean check --format``).

- ``json``: Protean's CLI envelope ``{"version", "status", "data", "diagnostics"}``, the
  report's ``domain``/``status``/``counts``/``errors`` under ``data`` and ``status``
  ``"fail"`` exactly when the command exits 1 (``--json`` prints the report itself);
- ``sarif``: a SARIF 2.1.0 log (GitHub code scanning, IDE problem panels): one result
  per error and diagnostic, one rule per code;
- ``github-annotations``: one GitHub Actions workflow command per finding
  (``::error``, ``::warning``, ``::notice``), shown inline on pull requests.

A diagnostic names its element's class (``module.QualName``); its location is the file
that defines the class (relative to ``$GITHUB_WORKSPACE``, else the working directory,
with ``/`` separators) and the class's first line. Errors of a validation step
(``config``, ``model``, ...) have no location. Nothing here raises for a location it
cannot find: the finding is reported without one.
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import Any

__all__ = ["FORMATS", "envelope", "github_annotations", "sarif"]

#: ``--format`` values (``rich`` is the human report)
FORMATS = ("rich", "json", "sarif", "github-annotations")

#: the version of Protean's CLI envelope this output follows
ENVELOPE_VERSION = "0.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVELS = {"error": "error", "warning": "warning", "info": "note"}
_ANNOTATION_COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def envelope(report: dict[str, Any], failed: bool) -> dict[str, Any]:
    """Protean's ``--format json`` envelope of ``report`` (``failed``: the exit status is 1)."""
    return {
        "version": ENVELOPE_VERSION,
        "status": "fail" if failed else "pass",
        "data": {key: report[key] for key in ("domain", "status", "counts", "errors")},
        "diagnostics": list(report["diagnostics"]),
    }


def sarif(report: dict[str, Any], version: str) -> dict[str, Any]:
    """The SARIF 2.1.0 log of ``report`` (``version``: archipel's, the tool's version)."""
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for finding, level, location in _findings(report):
        code = str(finding.get("code"))
        if code not in rules:
            rule: dict[str, Any] = {"id": code, "shortDescription": {"text": code}}
            if finding.get("suggestion"):
                rule["help"] = {"text": str(finding["suggestion"])}
            rules[code] = rule
        result: dict[str, Any] = {
            "ruleId": code,
            "level": _SARIF_LEVELS.get(level, "note"),
            "message": {"text": _message(finding)},
            "locations": [],
        }
        if location is not None:
            path, line = location
            physical: dict[str, Any] = {"artifactLocation": {"uri": path}}
            if line:
                physical["region"] = {"startLine": line}
            result["locations"].append({"physicalLocation": physical})
        results.append(result)
    return {
        "version": "2.1.0",
        "$schema": SARIF_SCHEMA,
        "runs": [{
            "tool": {"driver": {"name": "archipel", "version": version, "rules": list(rules.values())}},
            "results": results,
        }],
    }


def github_annotations(report: dict[str, Any]) -> str:
    """The GitHub Actions workflow commands of ``report``, one line per finding."""
    lines = []
    for finding, level, location in _findings(report):
        properties = ""
        if location is not None:
            path, line = location
            properties = f" file={_property(path)}" + (f",line={line}" if line else "")
        command = _ANNOTATION_COMMANDS.get(level, "notice")
        text = _data(f"[{finding.get('code')}] {_message(finding)}")
        lines.append(f"::{command}{properties}::{text}")
    return "\n".join(lines)


def _findings(report: dict[str, Any]) -> list[tuple[dict[str, Any], str, tuple[str, int | None] | None]]:
    """(finding, level, location) of every error (level ``error``, no location) and diagnostic."""
    found: list[tuple[dict[str, Any], str, tuple[str, int | None] | None]] = [
        (error, "error", None) for error in report["errors"]
    ]
    for item in report["diagnostics"]:
        found.append((item, str(item.get("level") or "info"), _location(str(item.get("element") or ""))))
    return found


def _message(finding: dict[str, Any]) -> str:
    element = finding.get("element")
    text = str(finding.get("message") or "")
    return f"{element}: {text}" if element else text


def _location(qualified: str) -> tuple[str, int | None] | None:
    """The file (workspace-relative) and first line of the class named ``module.QualName``."""
    parts = qualified.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        target: Any = module
        try:
            for name in parts[cut:]:
                target = getattr(target, name)
            path = inspect.getsourcefile(target)
        except (AttributeError, TypeError):
            return None
        if path is None:
            return None
        try:
            line: int | None = inspect.getsourcelines(target)[1]
        except (OSError, TypeError):
            line = None
        return _relative(path), line
    return None


def _relative(path: str) -> str:
    base = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    try:
        path = os.path.relpath(path, base)
    except ValueError:  # another drive (Windows): keep it absolute
        pass
    return path.replace(os.sep, "/")


def _data(text: str) -> str:
    """A workflow command's message, escaped (``%``, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    """A workflow command's property value, escaped (also ``:`` and ``,``)."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")
