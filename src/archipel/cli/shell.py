"""``archipel shell``: an interactive Python shell with the domain loaded."""

from __future__ import annotations

import code
import importlib.util
import sys
from typing import Annotated, Any

import typer

import archipel
from archipel.cli._domain import DomainOption, load_domain
from archipel.domain.domain import Domain
from archipel.utils.globals import current_domain

__all__ = ["shell", "shell_namespace"]


def shell_namespace(domain: Domain) -> dict[str, Any]:
    """Names available in the shell: the domain, its elements, ``current_domain``, ``Q``."""
    namespace: dict[str, Any] = {}
    for _kind, cls in domain.registry.all():
        namespace[cls.__name__] = cls
    # the framework's names win over element names that would shadow them
    namespace.update(
        domain=domain,
        current_domain=current_domain,
        Q=archipel.Q,
        archipel=archipel,
    )
    return namespace


def _banner(domain: Domain, namespace: dict[str, Any]) -> str:
    elements = sorted(
        name for _kind, cls in domain.registry.all() if (name := cls.__name__) in namespace
        and namespace[name] is cls
    )
    shown = ", ".join(elements[:30]) + (", ..." if len(elements) > 30 else "")
    return (
        f"archipel {archipel.__version__} shell, domain {domain.name!r} "
        f"(Python {sys.version.split()[0]})\n"
        f"Names: domain, current_domain, Q{', ' + shown if shown else ''}\n"
        "The domain context is active: domain.process(...) and current_domain work here."
    )


def shell(
    domain: DomainOption = None,
    command: Annotated[
        str | None,
        typer.Option("--command", "-c", help="Run this Python code and exit.", show_default=False),
    ] = None,
    plain: Annotated[
        bool, typer.Option("--plain", help="Use the standard Python shell even if IPython is installed.")
    ] = False,
    traverse: Annotated[
        bool,
        typer.Option(
            "--traverse/--no-traverse",
            help="Import every module of the domain's package first, so elements declared in "
            "them register (Protean's option; archipel's default).",
        ),
    ] = True,
) -> None:
    """Open an interactive Python shell with the domain initialised and active."""
    loaded = load_domain(domain, traverse=traverse)
    namespace = shell_namespace(loaded)
    with loaded.domain_context():
        if command is not None:
            # the user's own code, run as `python -c` would
            exec(compile(command, "<archipel shell -c>", "exec"), namespace)
            return
        banner = _banner(loaded, namespace)
        # IPython only on a real terminal: fed from a pipe it would misbehave
        use_ipython = (
            not plain and sys.stdin.isatty() and importlib.util.find_spec("IPython") is not None
        )
        if use_ipython:
            from IPython import start_ipython  # type: ignore[import-not-found]

            print(banner)
            start_ipython(argv=["--no-banner"], user_ns=namespace)
        else:
            code.interact(banner=banner, local=namespace, exitmsg="")
