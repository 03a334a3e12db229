"""One build's view of a domain's source: its elements' methods and what their bodies do.

:class:`SourceView` bundles the layers (module trees, the class index, the name
resolver, the fact catalog), sharing one parse of each module between the
``method_edges`` of the IR and the source rules of ``archipel check``. Each
layer works on first use and caches, so a build that asks nothing parses
nothing. Every query fails open: an element without readable source has no
methods and no facts, and no query raises for that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from archipel.domain.element_schemas import fqn
from archipel.ir.analysis.classes import ClassEntry, ClassIndex, FunctionNode, MethodEntry
from archipel.ir.analysis.facts import FactCatalog, MethodFacts
from archipel.ir.analysis.sources import SourceProvider
from archipel.ir.analysis.symbols import SymbolResolver

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["SourceView"]


class SourceView:
    """The source of ``domain``'s elements, read on demand (one per build; not thread-safe)."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.provider = SourceProvider()
        self.index = ClassIndex(self.provider)
        self.resolver = SymbolResolver(self.provider, (fqn(cls) for _kind, cls in domain.registry.all()))
        self._facts = FactCatalog(self.resolver)

    def class_entry(self, cls: type) -> ClassEntry | None:
        """The class ``cls`` was written as, or ``None``."""
        return self.index.class_entry(cls)

    def methods(self, cls: type) -> tuple[MethodEntry, ...]:
        """The methods written in ``cls``'s body, by name."""
        return self.index.methods(cls)

    def method_facts(self, module: str, method: FunctionNode) -> MethodFacts:
        """The facts of one method body."""
        return self._facts.method_facts(module, method)

    def element_facts(self, cls: type) -> dict[str, MethodFacts]:
        """method name -> facts, for every method written in ``cls``'s body (by name)."""
        entry = self.index.class_entry(cls)
        if entry is None:
            return {}
        return {method.name: self._facts.method_facts(entry.module, method.node) for method in entry.methods}
