"""``archipel add``'s plan: the files of a new element slice, previewed or written.

Protean 0.18's ``protean add aggregate <Name>``: in a project laid out as ``archipel new``
lays it out (one ``src/<package>/domain.py`` binding a ``Domain(...)``), it plans a vertical
slice under ``src/<package>/<slug>/``: the aggregate (a generated base and a hand-owned
subclass), its create command, its created event, the command handler, and a projection
with its projector. The project is read with :mod:`ast` only (nothing is imported). The
plan is all-or-nothing and create-only: an existing target refuses the whole plan, and a
write that fails partway removes what was written.
"""

from __future__ import annotations

import ast
import keyword
from pathlib import Path
from typing import NamedTuple

from archipel.cli.add_templates import SLICE

__all__ = ["AddPlanError", "ApplyError", "Plan", "PlannedFile", "apply_plan", "plan_add_slice", "render_preview"]

#: the element types ``add`` plans (Protean 0.18's)
SUPPORTED_ELEMENT_TYPES = ("aggregate",)


class AddPlanError(Exception):
    """A plan cannot be made: a bad element type, name or project layout (exit 2)."""


class ApplyError(Exception):
    """A plan cannot be written: a target exists, or a write failed (exit 1)."""


class PlannedFile(NamedTuple):
    """One file of a plan: its path relative to the project, its text, and who owns it
    (``generated``: ``add`` writes it; ``hand-owned``: yours to edit)."""

    path: str
    content: str
    ownership: str


class Plan(NamedTuple):
    """What ``add`` would do: a one-line description and the files, in order."""

    description: str
    files: tuple[PlannedFile, ...]


def split_words(name: str) -> list[str]:
    """The words of an identifier: underscores and case changes separate them, a run of
    capitals stays one word but for its last letter (``XMLHttp`` → ``XML``, ``Http``)."""
    words: list[str] = []
    current = ""
    for index, char in enumerate(name):
        if char == "_":
            if current:
                words.append(current)
                current = ""
            continue
        if char.isupper() and current:
            follows_lower = not current[-1].isupper()
            starts_word = index + 1 < len(name) and name[index + 1].islower()
            if follows_lower or starts_word:
                words.append(current)
                current = ""
        current += char
    if current:
        words.append(current)
    return words


def plan_add_slice(project_path: str, element_type: str, name: str) -> Plan:
    """The plan for ``archipel add <element_type> <name>`` in ``project_path`` (touches no file).

    ``name`` is normalised: ``OrderItem``, ``orderItem`` and ``order_item`` give the class
    ``OrderItem`` and the folder ``order_item``. :class:`AddPlanError` names what is wrong.
    """
    if element_type.lower() not in SUPPORTED_ELEMENT_TYPES:
        raise AddPlanError(
            f"Unsupported element type {element_type!r}. Supported: {', '.join(SUPPORTED_ELEMENT_TYPES)}."
        )
    if not name.isidentifier():
        raise AddPlanError(
            f"Invalid name {name!r}: an element name must be a valid Python identifier (letters, "
            "digits, and underscores; not starting with a digit)."
        )
    words = split_words(name)
    if not words:
        raise AddPlanError(f"Invalid name {name!r}: an element name must contain at least one letter or digit.")
    class_name = "".join(word[:1].upper() + word[1:] for word in words)
    slug = "_".join(word.lower() for word in words)
    if not class_name.isidentifier() or not slug.isidentifier():
        raise AddPlanError(
            f"Invalid name {name!r}: it derives the class {class_name!r} and the module variable "
            f"{slug!r}, which are not valid Python names. Start each word with a letter or an underscore."
        )
    if keyword.iskeyword(class_name) or keyword.iskeyword(slug):
        raise AddPlanError(
            f"Invalid name {name!r}: it derives a Python keyword (class {class_name!r}, module "
            f"variable {slug!r}), so the generated slice would not compile. Choose a name that is not a keyword."
        )
    package, domain_var = _resolve_project(project_path)
    if slug in {"repo", domain_var}:
        raise AddPlanError(
            f"The aggregate name {class_name!r} derives the slug {slug!r}, which the generated command "
            f"handler already binds: it holds the repository in 'repo' and reaches the domain through "
            f"{domain_var!r}. The handler would then call the wrong object. Choose another aggregate name."
        )
    values = {"Class": class_name, "slug": slug, "package": package, "domain": domain_var}
    files = tuple(
        PlannedFile(f"src/{package}/{slug}/{module}", text.format(**values), ownership)
        for module, ownership, text in SLICE
    )
    description = (
        f"Add the {class_name} aggregate slice (aggregate, command, event, command handler, "
        "projector, projection)"
    )
    return Plan(description, files)


def _resolve_project(project_path: str) -> tuple[str, str]:
    """``(package, domain variable)`` of the one ``src/<package>/domain.py`` of the project."""
    src = Path(project_path) / "src"
    if not src.is_dir():
        raise AddPlanError(
            f"No 'src' directory under {project_path!r}. Run 'add' from a project root generated by 'archipel new'."
        )
    candidates = sorted(child for child in src.iterdir() if child.is_dir() and (child / "domain.py").is_file())
    if not candidates:
        raise AddPlanError(
            f"No 'src/<package>/domain.py' found under {project_path!r}. "
            "The project must have a composition root (as 'archipel new' writes it)."
        )
    if len(candidates) > 1:
        raise AddPlanError(
            f"Found more than one 'src/<package>/domain.py' under {project_path!r} "
            f"({', '.join(c.name for c in candidates)}). 'add' targets a single composition root."
        )
    return candidates[0].name, _domain_variable(candidates[0] / "domain.py")


def _domain_variable(domain_py: Path) -> str:
    """The module-level variable bound to ``Domain(...)`` (or ``x.Domain(...)``) in ``domain_py``."""
    try:
        tree = ast.parse(domain_py.read_text(encoding="utf-8"), filename=str(domain_py))
    except (OSError, SyntaxError, UnicodeError) as exc:
        raise AddPlanError(f"Could not read {domain_py}: {exc}") from exc
    for node in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and isinstance(value, ast.Call):
            func = value.func
            called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if called == "Domain":
                return target.id
    raise AddPlanError(
        f"{domain_py} does not construct a Domain at module level. Expected a line like `<name> = Domain(name=...)`."
    )


def render_preview(plan: Plan) -> str:
    """The plan as text: its description, then each file with its text indented."""
    lines = ["Change plan", f"  {plan.description}"]
    for index, planned in enumerate(plan.files, start=1):
        body = [f"    {line}" for line in planned.content.splitlines()]
        lines += ["", f"{index}. create {planned.path}  ({len(body)} lines, {planned.ownership})", *body]
    return "\n".join(lines)


def apply_plan(project_path: str, plan: Plan) -> tuple[str, ...]:
    """Write the plan's files under ``project_path``: all of them, or none.

    :class:`ApplyError` when a target exists (nothing is written), or when a write
    fails (what was written is removed; the error names what could not be).
    """
    root = Path(project_path)
    for planned in plan.files:
        if (root / planned.path).exists():
            raise ApplyError(
                f"apply would overwrite an existing path: {planned.path!r}. Refusing to clobber it; apply "
                "is create-only and all-or-nothing. Remove the file or apply into a clean project."
            )
    created: list[Path] = []  # files and folders, in creation order
    try:
        for planned in plan.files:
            target = root / planned.path
            missing = [p for p in reversed(target.parents) if not p.exists()]
            for folder in missing:
                folder.mkdir()
                created.append(folder)
            with target.open("x", encoding="utf-8") as handle:
                created.append(target)
                handle.write(planned.content)
    except OSError as exc:
        left = _remove(created)
        detail = f"; could not remove: {', '.join(left)}" if left else "; nothing was left behind"
        raise ApplyError(f"writing the plan failed ({exc}){detail}") from exc
    return tuple(planned.path for planned in plan.files)


def _remove(created: list[Path]) -> list[str]:
    """Remove ``created`` (newest first); the paths that could not be removed."""
    left = []
    for path in reversed(created):
        try:
            path.rmdir() if path.is_dir() else path.unlink()
        except OSError:
            left.append(str(path))
    return left
