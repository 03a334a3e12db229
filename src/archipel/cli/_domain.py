"""Finding, importing and initialising the domain a command works on.

``--domain`` takes a module path (``bookshelf``, ``my_app.identity``) or a
file or folder path (``src/auth``, ``auth/domain.py``, ``.``), optionally with
the attribute that holds the ``Domain`` (``my_app.api:billing``) or a factory
that returns it (``my_app:create_domain()``). Without it, ``ARCHIPEL_DOMAIN``
is read (``PROTEAN_DOMAIN`` too, so the seeds' ``export
PROTEAN_DOMAIN=bookshelf`` works unchanged), then the current folder's
``domain.py`` or ``subdomain.py`` (Protean's discovery, see
:mod:`archipel.cli._discovery`). In a module, the instance named ``domain``,
then ``subdomain``, then the only one is taken.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from types import ModuleType
from typing import Annotated

import typer

from archipel.cli._console import CliError
from archipel.cli._discovery import (
    DEFAULT_NAMES,
    default_target,
    evaluate,
    is_path,
    module_for_path,
)
from archipel.domain.domain import Domain
from archipel.errors import ArchipelError

__all__ = [
    "ENV_VARS",
    "DomainOption",
    "DomainsOption",
    "find_domain",
    "load_domain",
    "load_domains",
    "resolve_spec",
]

#: environment variables naming the domain, in order of precedence
ENV_VARS = ("ARCHIPEL_DOMAIN", "PROTEAN_DOMAIN")

_DOMAIN_HELP = (
    "The domain's module, e.g. [bold]bookshelf[/], [bold]my_app.identity[/] or a path "
    "([bold]src/auth[/], [bold].[/]); [bold]module:attr[/] picks one Domain among several. "
    "Default: $ARCHIPEL_DOMAIN, else ./domain.py."
)

DomainOption = Annotated[
    str | None,
    typer.Option("--domain", "-d", help=_DOMAIN_HELP, show_default=False),
]
DomainsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--domain", "-d", help=_DOMAIN_HELP + " Repeat for several domains.", show_default=False
    ),
]

_LOAD_CODE = 2  # a domain that cannot be loaded is a usage problem, not a failed operation


def resolve_spec(spec: str | None) -> str:
    """The domain spec from ``--domain``, the environment or ``./domain.py``; error if none."""
    if spec and spec.strip():
        return spec.strip()
    for name in ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    if default_target() is not None:
        return "."
    raise CliError(
        "no domain given",
        hint="pass --domain or set ARCHIPEL_DOMAIN (e.g. --domain bookshelf), "
        "or run from the folder that holds domain.py",
        code=_LOAD_CODE,
    )


def _ensure_cwd_importable() -> None:
    # The console script's sys.path starts with its bin/ folder, not the
    # project: users expect `archipel --domain pkg` to import ./pkg.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def _import(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise CliError(
                f"cannot import domain module {module_name!r}: no module named {missing!r}",
                hint="run from the folder that contains the package, or add it to PYTHONPATH",
                code=_LOAD_CODE,
            ) from exc
        raise CliError(
            f"importing {module_name!r} failed: {exc}",
            hint="a module the domain imports is missing; rerun with --debug for the traceback",
            code=_LOAD_CODE,
        ) from exc
    except Exception as exc:
        raise CliError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}",
            hint="rerun with --debug for the traceback",
            code=_LOAD_CODE,
        ) from exc


def _domains_in(module: ModuleType) -> dict[str, Domain]:
    return {name: value for name, value in vars(module).items() if isinstance(value, Domain)}


#: ``module:attr`` splits at the first colon not followed by a path separator (``C:\\x``)
_ATTR = re.compile(r":(?![\\/])")


def find_domain(spec: str) -> Domain:
    """Import the module named by ``spec`` and return its ``Domain`` (not initialised)."""
    module_name, attr = _split(spec)
    if not module_name:
        raise CliError(f"invalid domain {spec!r}", hint="use module or module:attr", code=_LOAD_CODE)
    _ensure_cwd_importable()
    if is_path(module_name):
        module_name = module_for_path(module_name)
    module = _import(module_name)
    if attr:
        value = evaluate(module, attr)
        if not isinstance(value, Domain):
            raise CliError(
                f"{module_name}.{attr} is not an archipel Domain",
                hint=_choices_hint(module_name, _domains_in(module)),
                code=_LOAD_CODE,
            )
        return value
    for preferred in DEFAULT_NAMES:  # Protean's order: `domain`, then `subdomain`
        if isinstance(getattr(module, preferred, None), Domain):
            return getattr(module, preferred)  # type: ignore[no-any-return]
    found = _domains_in(module)
    if not found and hasattr(module, "__path__"):
        # a package may keep its Domain in a `domain` submodule (pkg/domain.py)
        if importlib.util.find_spec(f"{module_name}.domain") is not None:
            found = _domains_in(_import(f"{module_name}.domain"))
    if len(found) == 1:
        return next(iter(found.values()))
    for preferred in DEFAULT_NAMES:
        if preferred in found:
            return found[preferred]
    if not found:
        raise CliError(
            f"no archipel Domain found in module {module_name!r}",
            hint="create one there (domain = Domain(name=...)) or point --domain at its module",
            code=_LOAD_CODE,
        )
    raise CliError(
        f"module {module_name!r} holds several domains ({', '.join(sorted(found))})",
        hint=_choices_hint(module_name, found),
        code=_LOAD_CODE,
    )


def _split(spec: str) -> tuple[str, str]:
    parts = _ATTR.split(spec, maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def _choices_hint(module_name: str, found: dict[str, Domain]) -> str:
    if not found:
        return f"no Domain is defined in {module_name!r}"
    options = " or ".join(f"--domain {module_name}:{name}" for name in sorted(found))
    return f"choose one: {options}"


def load_domain(spec: str | None, *, init: bool = True, traverse: bool = True) -> Domain:
    """Resolve, import and (by default) initialise the domain named by ``spec``.

    ``traverse``: import every module of the domain's package first (``Domain.init``).
    """
    domain = find_domain(resolve_spec(spec))
    if init:
        try:
            domain.init(traverse=traverse)
        except ArchipelError as exc:
            raise CliError(
                f"domain {domain.name!r} failed to initialise: {exc}",
                hint="fix the model or domain.toml; rerun with --debug for the traceback",
                code=_LOAD_CODE,
            ) from exc
    return domain


def load_domains(specs: list[str] | None) -> list[Domain]:
    """Load several domains (``--domain`` repeated); the environment gives one at most."""
    if not specs:
        return [load_domain(None)]
    domains: list[Domain] = []
    for spec in specs:
        domain = load_domain(spec)
        if all(domain is not seen for seen in domains):
            domains.append(domain)
    return domains
