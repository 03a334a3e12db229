"""``archipel new NAME``: a new project, ready to test (Protean's ``protean new``).

Writes, under ``--output-dir`` (default: the current folder), ``NAME/`` with
``pyproject.toml``, ``README.md``, ``.gitignore``, ``src/<package>/``
(``domain.py``, ``domain.toml`` and, unless ``include_example=false``, an
``example`` package: an aggregate, its command and event, a command handler,
a projection and its projector) and ``tests/`` whose tests pass as generated.

Answers come from ``--data key=value`` (Protean's option; archipel never
prompts, so ``--defaults`` changes nothing): ``project_name``,
``package_name``, ``domain_name``, ``short_description``, ``author_name``,
``author_email``, ``database`` (memory, sqlite, postgresql), ``broker``
(inline, database, redis) and ``include_example`` (true/false). An unknown
key or value is a usage error naming what is allowed; an existing non-empty
folder is refused unless ``--force`` (which overwrites the files it writes
and keeps the rest). ``--dry-run`` lists the files and writes nothing.
Nothing is installed or initialised afterwards (``--skip-setup`` is the
only behaviour): the project's README gives the two commands to run.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from archipel.cli._console import UsageError, out, success

__all__ = ["ANSWERS", "Answers", "new", "render_project"]

#: every --data key, with its default (``None``: derived from the project name)
ANSWERS: dict[str, str | None] = {
    "project_name": None,
    "package_name": None,
    "domain_name": None,
    "short_description": None,
    "author_name": "Your Name",
    "author_email": "you@example.com",
    "database": "memory",
    "broker": "inline",
    "include_example": "true",
}
_CHOICES = {
    "database": ("memory", "sqlite", "postgresql"),
    "broker": ("inline", "database", "redis"),
    "include_example": ("true", "false"),
}
_TEMPLATE = "project_template"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class Answers:
    """The values a project is rendered with (see the module)."""

    project: str
    package: str
    domain: str
    description: str
    author_name: str
    author_email: str
    database: str
    broker: str
    example: bool

    def values(self) -> dict[str, str]:
        """Each ``{{placeholder}}`` of the templates and its text."""
        return {
            "project": self.project,
            "package": self.package,
            "domain": self.domain,
            "description": self.description,
            "author_name": self.author_name,
            "author_email": self.author_email,
            "extras": self._extras(),
            "storage": self._storage(),
            "database_config": self._database_config(),
            "broker_config": self._broker_config(),
        }

    def _extras(self) -> str:
        extras = (["sql"] if self.database != "memory" or self.broker == "database" else []) + (
            ["redis"] if self.broker == "redis" else []
        )
        return f"[{','.join(extras)}]" if extras else ""

    def _storage(self) -> str:
        where = {"memory": "in memory", "sqlite": "an SQLite file", "postgresql": "PostgreSQL"}
        return f"state and events {where[self.database]}, broker {self.broker}"

    def _database_config(self) -> str:
        if self.database == "memory":
            return '[databases.default]\nprovider = "memory"\n\n[event_store]\nprovider = "memory"\n'
        default = (
            f"sqlite:///.archipel/{self.package}.db"
            if self.database == "sqlite"
            else f"postgresql://postgres@localhost:5432/{self.package}"
        )
        uri = f'database_uri = "${{DATABASE_URL|{default}}}"'
        return (
            "# provider \"sql\" picks SQLite or PostgreSQL from the URI: DATABASE_URL switches it.\n"
            f'[databases.default]\nprovider = "sql"\n{uri}\n\n'
            f'[event_store]\nprovider = "sql"\n{uri}\n'
        )

    def _broker_config(self) -> str:
        if self.broker == "redis":
            return '[brokers.default]\nprovider = "redis"\nurl = "${REDIS_URL|redis://localhost:6379/0}"\n'
        return f'[brokers.default]\nprovider = "{self.broker}"\n'


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^0-9a-zA-Z]+", name) if part)


def parse_answers(project_name: str, data: list[str]) -> Answers:
    """The answers from the project name and ``--data key=value`` items (usage errors named)."""
    given: dict[str, str] = {}
    for item in data:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--data {item!r} is not key=value", hint="e.g. --data database=sqlite")
        if key not in ANSWERS:
            raise UsageError(f"--data: unknown key {key!r}", hint="keys: " + ", ".join(ANSWERS))
        value = value.strip()
        if key in _CHOICES and value.lower() not in _CHOICES[key]:
            raise UsageError(
                f"--data {key}={value!r} is not allowed", hint=f"{key}: " + ", ".join(_CHOICES[key])
            )
        given[key] = value.lower() if key in _CHOICES else value
    project = given.get("project_name") or project_name
    if not project.strip() or "/" in project or "\\" in project or project.strip(".") == "":
        raise UsageError(f"invalid project name {project!r}", hint="e.g. archipel new notes-app")
    package = given.get("package_name") or _snake(project)
    if not package.isidentifier() or keyword.iskeyword(package) or package == "archipel":
        raise UsageError(
            f"package name {package!r} is not an importable Python name",
            hint="give one with --data package_name=my_app",
        )
    defaults = {k: v for k, v in ANSWERS.items() if v is not None}
    answer = {**defaults, **given}
    return Answers(
        project=project,
        package=package,
        domain=given.get("domain_name") or _camel(project) or package,
        description=given.get("short_description") or f"{project}: a bounded context built with archipel",
        author_name=answer["author_name"],
        author_email=answer["author_email"],
        database=answer["database"],
        broker=answer["broker"],
        example=answer["include_example"] == "true",
    )


def _walk(node: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    files: list[tuple[str, Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        path = f"{prefix}{child.name}"
        if child.is_dir():
            if child.name != "__pycache__":
                files += _walk(child, path + "/")
        elif child.name.endswith(".tmpl"):
            files.append((path[: -len(".tmpl")], child))
    return files


def _fill(text: str, values: dict[str, str], where: str) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise RuntimeError(f"template {where}: unknown placeholder {match.group(0)}")
        return values[match.group(1)]

    return _PLACEHOLDER.sub(one, text)


def render_project(answers: Answers) -> dict[str, str]:
    """The project's files: relative path -> text."""
    values = answers.values()
    rendered: dict[str, str] = {}
    for path, source in _walk(resources.files("archipel.cli").joinpath(_TEMPLATE)):
        if not answers.example and ("/example/" in path or path.endswith("test_example.py")):
            continue
        target = _fill(path, values, path)
        target = ".gitignore" if target == "gitignore" else target
        rendered[target] = _fill(source.read_text(encoding="utf-8"), values, path)
    return rendered


def new(
    project_name: Annotated[str, typer.Argument(help="The project's name (its folder), e.g. notes-app.")],
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Where to create the project's folder.")
    ] = Path("."),
    data: Annotated[
        list[str] | None,
        typer.Option(
            "--data",
            "-d",
            help="An answer as key=value (repeatable): database=memory|sqlite|postgresql, "
            "broker=inline|database|redis, include_example=true|false, package_name, domain_name, "
            "short_description, author_name, author_email.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the files; write nothing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Write into an existing folder (its files are overwritten).")
    ] = False,
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Accepted for Protean's scripts: archipel never prompts.")
    ] = False,
    skip_setup: Annotated[
        bool, typer.Option("--skip-setup", help="Accepted for Protean's scripts: nothing is installed.")
    ] = False,
) -> None:
    """Create a new project: domain, configuration, an example and passing tests."""
    answers = parse_answers(project_name, data or [])
    files = render_project(answers)
    root = output_dir / answers.project
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a folder")
    if root.is_dir() and any(root.iterdir()) and not force and not dry_run:
        raise UsageError(f"folder {root} exists and is not empty", hint="choose another name, or --force")
    console = out()
    if dry_run:
        console.print(f"Would create [bold]{escape(str(root))}[/] ({len(files)} files):")
        for path in files:
            console.print(f"  {escape(path)}")
        return
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    success(f"created [bold]{escape(str(root))}[/] ({len(files)} files, domain {escape(answers.domain)})")
    console.print(
        escape(
            f"next:\n  cd {root}\n  python -m venv .venv && .venv/bin/pip install -e '.[test]'\n"
            "  .venv/bin/pytest"
        )
    )
