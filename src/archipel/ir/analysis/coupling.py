"""``archipel check``'s rules on what a domain's code reaches outside the domain
(Protean 0.18's, with ``protean.adapters`` renamed ``archipel.adapters``).

- ``HANDLER_PERSISTS_AND_CALLS_OUT`` (info): a method of a command or event
  handler, projector or process manager that calls ``repository_for`` (by the
  callee's trailing name: ``current_domain.repository_for`` from ``archipel``
  or ``archipel.utils.globals`` alike) and then, later in the body, an external
  call: a callee resolving to ``publish``/``send_email``/``sendmail``/
  ``send_message``/``urlopen``, or to a request verb (``get``, ``post``, ...,
  ``send``) of ``httpx``, ``requests``, ``urllib``, ``urllib3``, ``aiohttp`` or
  ``smtplib``. Only resolved callees count: ``repo.add(...)`` or a client held
  in a local variable is never guessed at.
- ``INFRA_IMPORT_IN_DOMAIN`` (warning, ``[lint] check_infra_imports = true``):
  an element's module imports ``archipel.adapters`` (or a module under it) at
  its top level; an import inside a function, an ``if TYPE_CHECKING:`` or a
  ``try`` is not coupling and is not flagged.
- ``ADAPTER_CALL_IN_DOMAIN`` (warning, ``[lint] check_adapter_calls = true``):
  a method of an element calls a callee that resolves under ``archipel.adapters``.
"""

from __future__ import annotations

import ast
from typing import Any

from archipel.domain.element_schemas import fqn
from archipel.domain.lint_catalog import diagnostic
from archipel.ir.analysis.view import SourceView

__all__ = ["ADAPTERS", "coupling_findings", "is_external_io_call", "is_persistence_call"]

Found = list[dict[str, Any]]
#: the package of archipel's adapters (Protean's ``protean.adapters``)
ADAPTERS = "archipel.adapters"
#: client libraries whose request verbs reach outside the process (Protean's list)
EXTERNAL_IO_MODULES = frozenset({"httpx", "requests", "urllib", "urllib3", "aiohttp", "smtplib"})
EXTERNAL_IO_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request", "send"})
#: names that reach outside wherever the callee resolves (``publish``: a broker's)
UNAMBIGUOUS_IO_NAMES = frozenset({"publish", "send_email", "sendmail", "send_message", "urlopen"})
PERSISTENCE_ACCESSORS = frozenset({"repository_for"})
_HANDLER_KINDS = ("command_handler", "event_handler", "projector", "process_manager")


def is_external_io_call(callee: str | None) -> bool:
    """Whether a resolved callee reaches outside the process."""
    if not callee:
        return False
    name = callee.rpartition(".")[2]
    if name in UNAMBIGUOUS_IO_NAMES:
        return True
    return callee.partition(".")[0] in EXTERNAL_IO_MODULES and name in EXTERNAL_IO_VERBS


def is_persistence_call(callee: str | None) -> bool:
    """Whether a resolved callee hands out a repository (``repository_for``)."""
    return bool(callee) and str(callee).rpartition(".")[2] in PERSISTENCE_ACCESSORS


def coupling_findings(view: SourceView, table: dict[str, Any]) -> Found:
    """The three rules' findings (the two opt-in ones as ``table``, the ``[lint]`` table, says)."""
    found: Found = []
    elements: dict[str, tuple[str, type]] = {}
    for kind, cls in view.domain.registry.all():
        elements.setdefault(fqn(cls), (kind, cls))
    _persists_and_calls_out(view, elements, found)
    if table.get("check_infra_imports", False):
        _infra_imports(view, elements, found)
    if table.get("check_adapter_calls", False):
        _adapter_calls(view, elements, found)
    return found


def _persists_and_calls_out(view: SourceView, elements: dict[str, tuple[str, type]], found: Found) -> None:
    for path, (kind, cls) in sorted(elements.items()):
        if kind not in _HANDLER_KINDS:
            continue
        for method, facts in view.element_facts(cls).items():
            persist = min(((c.line, c.col) for c in facts.calls if is_persistence_call(c.callee)), default=None)
            if persist is None:
                continue
            io = next((c for c in facts.calls if (c.line, c.col) > persist and is_external_io_call(c.callee)),
                      None)
            if io is not None:
                found.append(diagnostic(
                    "HANDLER_PERSISTS_AND_CALLS_OUT", element=path,
                    message=f"Handler `{cls.__name__}` method `{method}` persists, then calls `{io.callee}` "
                    f"(line {io.line}), which can hold the transaction open across the call.",
                ))


def _under_adapters(name: str) -> bool:
    return name == ADAPTERS or name.startswith(ADAPTERS + ".")


def _imports_adapters(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = [module, *(f"{module}.{a.name}" if module else a.name for a in node.names)]
        else:
            continue
        if any(_under_adapters(name) for name in names):
            return True
    return False


def _infra_imports(view: SourceView, elements: dict[str, tuple[str, type]], found: Found) -> None:
    flags: dict[str, bool] = {}
    scanned = sorted(
        (path, cls.__name__, cls.__module__)
        for path, (_kind, cls) in elements.items() if getattr(cls, "__module__", None)
    )
    for path, name, module in scanned:
        if module not in flags:
            tree = view.provider.tree(module)
            flags[module] = tree is not None and _imports_adapters(tree)
        if flags[module]:
            found.append(diagnostic(
                "INFRA_IMPORT_IN_DOMAIN", element=path,
                message=f"Domain element `{name}` (module `{module}`) imports from `{ADAPTERS}`.",
            ))


def _adapter_calls(view: SourceView, elements: dict[str, tuple[str, type]], found: Found) -> None:
    for path, (_kind, cls) in sorted(elements.items()):
        for method, facts in view.element_facts(cls).items():
            for call in facts.calls:
                if call.callee is not None and _under_adapters(call.callee):
                    found.append(diagnostic(
                        "ADAPTER_CALL_IN_DOMAIN", element=path,
                        message=f"Domain element `{cls.__name__}` calls `{call.callee}` in method `{method}` "
                        f"(line {call.line}), coupling the domain to `{ADAPTERS}`.",
                    ))
