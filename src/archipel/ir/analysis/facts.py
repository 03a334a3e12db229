"""What one method body does: the calls it makes, the attributes it reads and writes, the
elements it constructs (Protean 0.18's ``protean.ir.analysis.facts``, with archipel's names).

- a :class:`CallFact` per call: the callee's dotted path when it resolves, its
  trailing name (``x.filter(...)`` -> ``filter``), the keyword names it passes
  (plus those of an inline ``Q(field=...)`` for a query call), and the role of
  its receiver: the Unit of Work, ``raise_``, a repository query
  (``add``/``get``/``find``/``find_by``/``filter``/``exclude``), or unknown;
- an :class:`AttributeFact` per attribute access, a write when stored or deleted
  (``self.x = 1``, ``self.n += 1``, ``del self.x``), a read otherwise; the
  name naming a called method (``self.repo.filter``'s ``filter``) is no access;
- a :class:`ConstructionFact` per call whose callee resolves to a registered
  element (``OrderPlaced(...)``), instead of a call fact.

The walk covers every expression of the body but stops at a nested ``def``,
``lambda`` or ``class`` (their facts are theirs). A receiver gets a role only
when it can be recognised without dataflow: it resolves, or is a chain rooted at
``self`` or at a module-level name, or is the construction of an element or of
``UnitOfWork``; a plain local variable (``repo.filter(...)``) stays unknown. A
``**kwargs`` marks a call dynamic and names no field. Facts are sorted by
``(line, col)``; a body too deep to walk yields none (fail open).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from enum import StrEnum

from archipel.ir.analysis.classes import FunctionNode
from archipel.ir.analysis.symbols import SymbolResolver

__all__ = [
    "RAISE_METHOD", "AttributeFact", "CallFact", "ConstructionFact", "FactCatalog", "MethodFacts",
    "ReceiverRole",
]

#: the method an aggregate or entity raises an event through
RAISE_METHOD = "raise_"
#: the repository and query-set surface a recognised receiver's call is a query on
QUERY_METHODS = frozenset({"add", "get", "find_by", "find", "filter", "exclude"})
#: archipel's Unit of Work and ``Q`` at the paths a program imports them from (Protean's, renamed)
UNIT_OF_WORK = "archipel.core.unit_of_work.UnitOfWork"
Q_PATH = "archipel.utils.query.Q"
_NESTED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


class ReceiverRole(StrEnum):
    """What a call's receiver is, when that can be told without dataflow."""

    REPOSITORY_QUERY = "REPOSITORY_QUERY"
    RAISE_ = "RAISE_"
    UNIT_OF_WORK = "UNIT_OF_WORK"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class CallFact:
    callee: str | None
    method: str | None
    receiver: str | None
    role: ReceiverRole
    field_names: tuple[str, ...]
    dynamic_kwargs: bool
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class AttributeFact:
    name: str
    #: the plain name the attribute is read off (``self``, ``record``), else ``None``
    receiver: str | None
    is_write: bool
    is_delete: bool
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class ConstructionFact:
    path: str
    field_names: tuple[str, ...]
    dynamic_kwargs: bool
    #: a positional argument: a template mapping whose keys are not visible
    positional_template: bool
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class MethodFacts:
    calls: tuple[CallFact, ...] = ()
    attributes: tuple[AttributeFact, ...] = ()
    constructions: tuple[ConstructionFact, ...] = ()


class FactCatalog:
    """The facts of method bodies, each computed once."""

    def __init__(self, resolver: SymbolResolver) -> None:
        self._resolver = resolver
        self._cache: dict[tuple[str, int], MethodFacts] = {}

    def method_facts(self, module: str, method: FunctionNode) -> MethodFacts:
        """The facts of ``method`` (a node of ``module``'s tree)."""
        key = (module, id(method))
        facts = self._cache.get(key)
        if facts is None:
            facts = self._collect(module, method)
            self._cache[key] = facts
        return facts

    def _collect(self, module: str, method: FunctionNode) -> MethodFacts:
        calls: list[CallFact] = []
        attributes: list[AttributeFact] = []
        constructions: list[ConstructionFact] = []

        def visit(node: ast.AST, is_callee: bool) -> None:
            if isinstance(node, _NESTED):
                return
            if isinstance(node, ast.Call):
                self._record_call(module, node, calls, constructions)
                visit(node.func, True)
                for arg in node.args:
                    visit(arg, False)
                for keyword in node.keywords:
                    visit(keyword.value, False)
                return
            if isinstance(node, ast.Attribute):
                if not is_callee:
                    attributes.append(_attribute(node))
                visit(node.value, False)
                return
            for child in ast.iter_child_nodes(node):
                visit(child, False)

        try:
            for statement in method.body:
                visit(statement, False)
        except RecursionError:
            return MethodFacts()

        def position(fact: CallFact | AttributeFact | ConstructionFact) -> tuple[int, int]:
            return fact.line, fact.col

        return MethodFacts(
            tuple(sorted(calls, key=position)),
            tuple(sorted(attributes, key=position)),
            tuple(sorted(constructions, key=position)),
        )

    def _record_call(
        self, module: str, node: ast.Call, calls: list[CallFact], constructions: list[ConstructionFact]
    ) -> None:
        line, col = node.lineno, node.col_offset
        callee = self._resolver.resolve(module, node.func)
        if callee is not None and self._resolver.is_domain_element(callee):
            names, dynamic = _keywords(node)
            constructions.append(ConstructionFact(callee, names, dynamic, bool(node.args), line, col))
            return
        method = _callee_name(node.func)
        role, receiver = self._role(module, node.func, method)
        names, dynamic = self._fields(module, node, method in QUERY_METHODS)
        calls.append(CallFact(callee, method, receiver, role, names, dynamic, line, col))

    def _role(self, module: str, func: ast.expr, method: str | None) -> tuple[ReceiverRole, str | None]:
        if not isinstance(func, ast.Attribute):
            return ReceiverRole.UNKNOWN, None
        receiver = func.value
        path = self._resolver.resolve(module, receiver)
        if not self._recognised(module, receiver, path):
            return ReceiverRole.UNKNOWN, path
        if path == UNIT_OF_WORK or (
            isinstance(receiver, ast.Call) and self._resolver.resolve(module, receiver.func) == UNIT_OF_WORK
        ):
            return ReceiverRole.UNIT_OF_WORK, path
        if method == RAISE_METHOD:
            return ReceiverRole.RAISE_, path
        if method in QUERY_METHODS:
            return ReceiverRole.REPOSITORY_QUERY, path
        return ReceiverRole.UNKNOWN, path

    def _recognised(self, module: str, receiver: ast.expr, path: str | None) -> bool:
        """Resolves; or a chain rooted at ``self`` or a module-level name; or an element's or the
        Unit of Work's construction (any other call result is less known than a variable)."""
        if path is not None:
            return True
        root = receiver
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name):
            return root.id == "self" or root.id in self._resolver.symbols(module)
        if isinstance(receiver, ast.Call):
            callee = self._resolver.resolve(module, receiver.func)
            return callee is not None and (callee == UNIT_OF_WORK or self._resolver.is_domain_element(callee))
        return False

    def _fields(self, module: str, node: ast.Call, include_q: bool) -> tuple[tuple[str, ...], bool]:
        names, dynamic = _keywords(node)
        if not include_q:
            return names, dynamic
        collected = list(names)
        for arg in node.args:
            if not isinstance(arg, ast.Call) or self._resolver.resolve(module, arg.func) != Q_PATH:
                continue
            q_names, q_dynamic = _keywords(arg)
            dynamic = dynamic or q_dynamic
            collected.extend(name for name in q_names if name not in collected)
        return tuple(collected), dynamic


def _keywords(node: ast.Call) -> tuple[tuple[str, ...], bool]:
    names = tuple(keyword.arg for keyword in node.keywords if keyword.arg is not None)
    return names, any(keyword.arg is None for keyword in node.keywords)


def _callee_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _attribute(node: ast.Attribute) -> AttributeFact:
    receiver = node.value.id if isinstance(node.value, ast.Name) else None
    is_delete = isinstance(node.ctx, ast.Del)
    return AttributeFact(
        node.attr, receiver, is_delete or isinstance(node.ctx, ast.Store), is_delete,
        node.lineno, node.col_offset,
    )
