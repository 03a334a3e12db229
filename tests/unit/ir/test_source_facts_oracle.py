"""The facts archipel reads off a method body are Protean 0.18's, on generated bodies.

Hypothesis writes a module (imports, a registered element, a class whose method body
is made of calls, attribute writes and deletes, element and ``Q`` constructions, nested
``def``/``lambda``/comprehensions, ``if``/``for``/``with``), once with ``protean`` and
once with ``archipel``; Protean's ``FactCatalog`` (``protean.ir.analysis``) and
archipel's (:mod:`archipel.ir.analysis.facts`) must report the same calls (callee,
trailing name, receiver and its role, keyword fields, ``**kwargs``, position),
attribute accesses and constructions, with ``protean`` read as ``archipel``.
"""

from __future__ import annotations

import ast
import importlib
import itertools
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pytest.importorskip("protean", reason="Protean 0.18 is the oracle (pip install -e '.[bench]')")

from protean.ir.analysis import FactCatalog as TheirCatalog  # noqa: E402
from protean.ir.analysis import SourceProvider as TheirProvider  # noqa: E402
from protean.ir.analysis import SymbolResolver as TheirResolver  # noqa: E402

from archipel.ir.analysis.classes import ClassIndex  # noqa: E402
from archipel.ir.analysis.facts import FactCatalog  # noqa: E402
from archipel.ir.analysis.sources import SourceProvider  # noqa: E402
from archipel.ir.analysis.symbols import SymbolResolver  # noqa: E402

HEADER = """\
import urllib.request
import FRAMEWORK.adapters as infra
from FRAMEWORK import current_domain
from FRAMEWORK.core.unit_of_work import UnitOfWork
from FRAMEWORK.utils.query import Q
from .sibling import Thing
helper = None


class Elem:
    pass


class Host:
    def method(self, a, **kw):
"""

RECEIVERS = ["self", "self._dao", "self._dao.query", "a", "repo", "Elem", "current_domain", "urllib.request",
             "UnitOfWork()", "Elem()", "get_repo()", "infra.memory", "Thing", "helper", "a[0]"]
METHODS = ["filter", "get", "add", "raise_", "find", "find_by", "exclude", "publish", "urlopen",
           "repository_for", "commit", "all", "place"]
KEYS = ["status", "age__gte", "region", "id"]

names = st.sampled_from(KEYS)
kwargs = st.lists(st.one_of(names.map(lambda k: f"{k}=1"), st.just("**kw")), max_size=3)


def _call(receiver: str, method: str, args: list[str]) -> str:
    return f"{receiver}.{method}({', '.join(args)})"


def _expressions() -> st.SearchStrategy[str]:
    leaf = st.one_of(
        st.builds(_call, st.sampled_from(RECEIVERS), st.sampled_from(METHODS), kwargs),
        kwargs.map(lambda a: f"Elem({', '.join(a)})"),
        kwargs.map(lambda a: f"Q({', '.join(a)})"),
        st.sampled_from(["a", "self.total", "a.b.c", "Thing", "print(a)", "Elem(a, status=1)"]),
    )
    return st.recursive(leaf, lambda inner: st.one_of(
        st.builds(lambda r, m, x: f"{r}.{m}({x})", st.sampled_from(RECEIVERS), st.sampled_from(METHODS), inner),
        st.builds(lambda x: f"[{x} for _ in a]", inner),
        st.builds(lambda x: f"(lambda: {x})", inner),
        st.builds(lambda x, y: f"({x} or {y})", inner, inner),
        st.builds(lambda x: f"f'{{{x}}}'" if "'" not in x else x, inner),
    ), max_leaves=4)


expressions = _expressions()


def _statements(depth: int) -> st.SearchStrategy[list[str]]:
    simple = st.one_of(
        expressions,
        st.builds(lambda n, x: f"self.{n} = {x}", names.filter(lambda n: "__" not in n), expressions),
        st.builds(lambda x: f"repo = {x}", expressions),
        st.builds(lambda x: f"self.count += {x}", expressions),
        st.sampled_from(["del self.status", "self.items[0] = 1", "self.a.b = 2", "return None"]),
    ).map(lambda s: [s])
    if depth == 0:
        return simple
    block = _statements(depth - 1).map(lambda lines: ["    " + line for line in lines])
    return st.one_of(
        simple,
        st.builds(lambda body: ["if a:", *body], block),
        st.builds(lambda body: ["for _ in a:", *body], block),
        st.builds(lambda x, body: [f"with {x}:", *body], expressions, block),
        st.builds(lambda body: ["def inner(x=self.repo.find(status=1)):", *body], block),
        st.builds(lambda body: ["try:", *body, "except Exception:", "    pass"], block),
    )


bodies = st.lists(_statements(2), min_size=1, max_size=6).map(lambda parts: list(itertools.chain(*parts)))
_counter = itertools.count()


def _their_domain(elements: set[str]) -> Any:
    records = {path: SimpleNamespace(internal=False, qualname=path) for path in elements}
    return SimpleNamespace(root_path="", _domain_registry=SimpleNamespace(_elements={"X": records}))


def _facts(catalog: Any, provider: Any, module: str) -> Any:
    tree = provider.tree(module)
    host = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Host")
    return catalog.method_facts(module, host.body[0])


def _theirs(module: str) -> list[tuple[Any, ...]]:
    domain = _their_domain({f"{module}.Elem"})
    provider = TheirProvider(domain)
    facts = _facts(TheirCatalog(domain, provider, resolver=TheirResolver(domain, provider)), provider, module)
    found: list[tuple[Any, ...]] = [
        ("call", c.callee_fqn, c.method, c.receiver_fqn, c.receiver_role.value, c.field_names, c.dynamic_kwargs,
         c.location.line, c.location.col) for c in facts.calls]
    found += [("attr", a.name, a.receiver, a.is_write, a.is_delete, a.location.line, a.location.col)
              for a in facts.attributes]
    found += [("new", c.fqn, c.field_names, c.dynamic_kwargs, c.positional_template, c.location.line,
               c.location.col) for c in facts.constructions]
    return found


def _ours(module: str) -> list[tuple[Any, ...]]:
    provider = SourceProvider()
    ClassIndex(provider)
    facts = _facts(FactCatalog(SymbolResolver(provider, {f"{module}.Elem"})), provider, module)
    found: list[tuple[Any, ...]] = [
        ("call", c.callee, c.method, c.receiver, c.role.value, c.field_names, c.dynamic_kwargs, c.line, c.col)
        for c in facts.calls]
    found += [("attr", a.name, a.receiver, a.is_write, a.is_delete, a.line, a.col) for a in facts.attributes]
    found += [("new", c.path, c.field_names, c.dynamic_kwargs, c.positional_template, c.line, c.col)
              for c in facts.constructions]
    return found


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("facts_oracle")
    (root / "factpkg").mkdir()
    (root / "factpkg" / "__init__.py").write_text("")
    (root / "factpkg" / "sibling.py").write_text("Thing = None\n")
    sys.path.insert(0, str(root))
    yield root / "factpkg"
    sys.path.remove(str(root))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_a_method_body_s_facts_are_protean_s(package: Path, body: list[str]) -> None:
    text = HEADER + "".join(f"        {line}\n" for line in body)
    try:
        ast.parse(text)
    except SyntaxError:
        assume(False)
    stem = f"m{next(_counter)}"
    for framework in ("protean", "archipel"):
        (package / f"{stem}_{framework}.py").write_text(text.replace("FRAMEWORK", framework))
    importlib.invalidate_caches()
    theirs = _theirs(f"factpkg.{stem}_protean")
    ours = _ours(f"factpkg.{stem}_archipel")
    neutral = [tuple(str(v).replace("protean", "archipel").replace(f"{stem}_archipel", "M")
                     if isinstance(v, str) else v for v in fact) for fact in ours]
    expected = [tuple(str(v).replace("protean", "archipel").replace(f"{stem}_archipel", "M")
                      if isinstance(v, str) else v for v in fact) for fact in
                [tuple(str(v).replace(f"{stem}_protean", f"{stem}_archipel") if isinstance(v, str) else v
                       for v in f) for f in theirs]]
    assert neutral == expected
