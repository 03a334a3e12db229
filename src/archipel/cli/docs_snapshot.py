"""The ``llms.txt`` snapshot setting of ``archipel docs generate --type llms`` (Protean's
``[tool.protean.docs].domain_snapshot``).

Optional, in the first of ``.domain.toml``, ``domain.toml``, ``pyproject.toml``
found in the current folder or its two parents::

    [docs.domain_snapshot]            # [tool.archipel.docs.domain_snapshot] in pyproject.toml
    path = "llms.txt"
    domain = "src/my_app"

It stands in for ``--output`` and ``--domain`` (a flag wins), so ``archipel
docs generate --type llms --check`` needs no flags in CI. Both values are
relative to the file that sets them. A file that cannot be read, or a
setting that is not a table with non-empty string ``path`` and ``domain``, is
an error naming the file: a typo must not become a silent framework-only render.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, NamedTuple

from archipel.cli._console import CliError

__all__ = ["Snapshot", "load_snapshot_config"]

_FILES = (".domain.toml", "domain.toml", "pyproject.toml")


class Snapshot(NamedTuple):
    """The snapshot file to write or check, and the domain to render it from."""

    path: str
    domain: str


def _config_file() -> Path | None:
    here = Path.cwd()
    for folder in (here, *list(here.parents)[:2]):
        for name in _FILES:
            if (folder / name).is_file():
                return folder / name
    return None


def _section(data: dict[str, Any], pyproject: bool) -> Any:
    if not pyproject:
        return data.get("docs", {})
    section: Any = data
    for level in ("tool", "archipel", "docs"):
        if not isinstance(section, dict):
            return None
        section = section.get(level, {})
    return section


def load_snapshot_config() -> Snapshot | None:
    """The snapshot setting, or None when there is no config file or it sets none."""
    file = _config_file()
    if file is None:
        return None
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"could not read {file}: {exc}") from exc
    pyproject = file.name == "pyproject.toml"
    section = _section(data, pyproject)
    if not isinstance(section, dict) or section.get("domain_snapshot") is None:
        return None
    setting = section["domain_snapshot"]
    label = "[tool.archipel.docs]" if pyproject else "[docs]"
    if not isinstance(setting, dict):
        raise CliError(f"{label}.domain_snapshot in {file} must be a table with a 'path' and a 'domain'")
    values = []
    for key in ("path", "domain"):
        value = setting.get(key)
        if not isinstance(value, str) or not value.strip():
            raise CliError(f"{label}.domain_snapshot in {file} needs a non-empty string '{key}'")
        values.append(str(file.parent / value))
    return Snapshot(*values)
