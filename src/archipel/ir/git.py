"""Read a committed IR file from any git revision (``archipel ir diff --base REF``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import PurePosixPath
from typing import Any

from archipel.errors import ArchipelError

__all__ = ["GitError", "load_ir_from_commit"]


class GitError(ArchipelError):
    """git is missing, the revision or the file does not exist there, or the file is not an IR."""


def load_ir_from_commit(commit: str, path: str = ".archipel/ir.json") -> dict[str, Any]:
    """The IR stored at ``path`` (relative to the repository root, or ``./``-relative) in ``commit``.

    Runs ``git show <commit>:<path>``, which never touches the working tree.
    """
    posix = PurePosixPath(path).as_posix()
    spec = posix if posix.startswith(("./", "../", "/")) else f"./{posix}"
    try:
        result = subprocess.run(
            ["git", "show", f"{commit}:{spec}"], capture_output=True, text=True, encoding="utf-8", check=True
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not found on PATH") from exc
    except subprocess.CalledProcessError as exc:
        raise GitError(f"Failed to load '{posix}' from commit '{commit}': {exc.stderr.strip()}") from exc
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise GitError(f"Invalid JSON in '{posix}' at commit '{commit}': {exc}") from exc
    if not isinstance(data, dict):
        raise GitError(f"'{posix}' at commit '{commit}' is not a JSON object (an IR is one)")
    return data
