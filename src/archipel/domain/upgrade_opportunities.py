"""``archipel upgrade-check --opportunities``: what the domain hand-rolls that the framework ships.

Protean's detectors, on the domain's source (:func:`~archipel.domain.upgrade_source.domain_trees`),
each deterministic (imports, call shapes, literal choices). A detector reports
only when the Protean release its capability (or behaviour change) came with is
at or below the *pinned* version — the Protean release the program was written
for; archipel offers all of them, so the default is the release archipel is
compatible with, :data:`PROTEAN_COMPATIBLE`.

- ``OPPORTUNITY_QUERY_API`` (Protean 0.16.0): ``sqlalchemy.text(...)`` SQL where
  ``Q``/``F``/``QuerySet.count()``/``.only()`` would do;
- ``OPPORTUNITY_DOMAIN_CONTEXT_MIDDLEWARE`` (Protean 0.15.0): a custom ASGI middleware
  (``archipel.integrations.fastapi.DomainContextMiddleware`` wires the context);
- ``OPPORTUNITY_OUTBOX`` (Protean 0.14.0): a status field cycling through queue states;
- ``SANITIZE_DEFAULT_CHANGED`` (Protean 0.18.0): ``String``/``Text`` fields leaving
  ``sanitize`` unset, which Protean before 0.18 sanitized and archipel (as 0.18) does
  not, unless ``[field_defaults] sanitize = true``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from archipel.domain.upgrade import UpgradeFinding, run_checks
from archipel.domain.upgrade_source import Tree, attribute_path, domain_trees, summarise

if TYPE_CHECKING:
    from archipel.domain.domain import Domain

__all__ = ["PINNED_VERSION", "PROTEAN_COMPATIBLE", "parse_version", "run_opportunity_checks"]

#: the Protean release archipel's API follows: the default pinned version
PROTEAN_COMPATIBLE = "0.18.0"
#: an accepted ``--pinned-version``: MAJOR.MINOR[.PATCH] with an optional a/b/rc/dev/post number
PINNED_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?((a|b|rc)\d+|\.?(dev|post)\d+)?$")

Version = tuple[int, int, int]
Detector = Callable[[list[Tree], "Domain"], list[UpgradeFinding]]


def parse_version(version: str) -> Version:
    """The numeric core of ``version`` (``0.16.0rc1`` -> ``(0, 16, 0)``; missing parts 0)."""
    numbers = []
    for part in version.strip().split(".")[:3]:
        digits = re.match(r"\d*", part)
        numbers.append(int(digits.group()) if digits and digits.group() else 0)
    numbers += [0] * (3 - len(numbers))
    return numbers[0], numbers[1], numbers[2]


def _finding(
    code: str, sites: list[str], title: str, detail: str, remediation: str, every_site: bool = False
) -> list[UpgradeFinding]:
    """One info finding over ``sites`` (the first ten, or ``every_site``: a checklist), or none."""
    if not sites:
        return []
    where = f"are at: {', '.join(sorted(sites))}" if every_site else f"Found at: {summarise(sites)}"
    return [UpgradeFinding(code=code, level="info", title=f"{len(sites)} {title}",
                           detail=f"{detail} {where}.", remediation=remediation)]


# -- raw SQL ----------------------------------------------------------------------------
def _raw_sql(trees: list[Tree], _domain: Domain) -> list[UpgradeFinding]:
    sites = []
    for module, tree in trees:
        direct: set[str] = set()
        modules: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules.update(a.asname or a.name.split(".")[0] for a in node.names if a.name.split(".")[0] == "sqlalchemy")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
                direct.update(a.asname or a.name for a in node.names if a.name == "text")
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if (isinstance(func, ast.Name) and func.id in direct) or (
                isinstance(func, ast.Attribute) and func.attr == "text"
                and (attribute_path(func.value) or "").split(".")[0] in modules
            ):
                sites.append(f"{module}:{node.lineno}")
    return _finding(
        "OPPORTUNITY_QUERY_API", sites, "raw `sqlalchemy.text()` SQL site(s)",
        "The query API that came with Protean 0.16.0 covers most of what raw SQL is reached for: "
        "`Q(field__isnull=)`, `F()` column comparisons, `QuerySet.count()`, `.only()` and "
        "`.all(with_total=False)`, dispatched through `@domain.query_handler` and `domain.dispatch()`.",
        "Review each site: where it is a filter, count or projection, the query API expresses it "
        "without hand-written SQL and stays portable across databases.",
    )


# -- custom middleware --------------------------------------------------------------------
#: middlewares the framework or the ASGI stack ships: registering one hand-rolls nothing
_SHIPPED_MIDDLEWARES = frozenset({
    "DomainContextMiddleware", "CORSMiddleware", "GZipMiddleware", "TrustedHostMiddleware",
    "SessionMiddleware", "HTTPSRedirectMiddleware", "WSGIMiddleware", "AuthenticationMiddleware",
    "ServerErrorMiddleware", "ExceptionMiddleware", "ProxyHeadersMiddleware",
})
_MIDDLEWARE_HOMES = frozenset({"starlette", "fastapi", "uvicorn", "archipel", "protean"})


def _middleware(trees: list[Tree], _domain: Domain) -> list[UpgradeFinding]:
    sites = []
    for module, tree in trees:
        renamed = {
            alias.asname: alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] in _MIDDLEWARE_HOMES for alias in node.names if alias.asname
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and (
                any((attribute_path(base) or "").rpartition(".")[2] == "BaseHTTPMiddleware" for base in node.bases)
                or any(isinstance(item, ast.AsyncFunctionDef) and item.name == "dispatch"
                       and any(arg.arg == "call_next" for arg in item.args.args) for item in node.body)
            ):
                sites.append(f"{module}:{node.lineno}")
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "add_middleware" and node.args):
                added = (attribute_path(node.args[0]) or "").rpartition(".")[2]
                if added and renamed.get(added, added) not in _SHIPPED_MIDDLEWARES:
                    sites.append(f"{module}:{node.lineno}")
    return _finding(
        "OPPORTUNITY_DOMAIN_CONTEXT_MIDDLEWARE", sites, "custom ASGI middleware site(s)",
        "`DomainContextMiddleware` (Protean 0.15.0; `archipel.integrations.fastapi`) wires the domain "
        "context and correlation-id propagation (X-Correlation-ID in and out) for FastAPI apps.",
        "Where the custom middleware exists to set up the domain context or correlation wiring, "
        "register `app.add_middleware(DomainContextMiddleware, domain=...)` instead.",
    )


# -- queue-like status fields -------------------------------------------------------------
_QUEUE_STATES = frozenset({
    "pending", "queued", "processing", "in_progress", "inprogress", "done", "completed", "complete",
    "succeeded", "success", "failed", "failure", "error", "errored", "retry", "retrying", "dead", "dlq",
    "abandoned", "sent", "published",
})


def _choices(call: ast.Call) -> set[str]:
    for keyword in call.keywords:
        if keyword.arg == "choices" and isinstance(keyword.value, ast.List | ast.Tuple):
            return {e.value.strip().lower() for e in keyword.value.elts
                    if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return set()


def _queue_status(trees: list[Tree], _domain: Domain) -> list[UpgradeFinding]:
    sites = []
    for module, tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Assign | ast.AnnAssign) or not isinstance(node.value, ast.Call):
                continue
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [attribute_path(t) or "" for t in targets]
            if any(n.rpartition(".")[2] in ("status", "state") or "status" in n for n in names) and len(
                _choices(node.value) & _QUEUE_STATES
            ) >= 2:
                sites.append(f"{module}:{node.lineno}")
    return _finding(
        "OPPORTUNITY_OUTBOX", sites, "queue-like status field(s)",
        "The outbox (Protean 0.14.0) delivers reliably with retries, backoff and a dead-letter queue; "
        "a status field cycling through queue states (pending / processing / done / failed) is "
        "usually a hand-rolled queue the outbox covers.",
        "Where the status field tracks work to be swept, raise a domain event and let the outbox "
        "deliver it, rather than polling the table yourself.",
    )


# -- String/Text relying on Protean's old sanitize default --------------------------------
_FIELD_MODULES = ("archipel.fields", "protean.fields")


def _field_names(tree: ast.Module) -> tuple[dict[str, str], set[str]]:
    """Names bound to the fields' String/Text/List/Dict, and names bound to the fields module.

    A name also bound to anything else in the module is left out: never a guess."""
    factories: dict[str, str] = {}
    modules: set[str] = set()
    elsewhere: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                bound = alias.asname or alias.name
                if node.module.startswith(_FIELD_MODULES) and alias.name in ("String", "Text", "List", "Dict"):
                    factories[bound] = alias.name
                elif node.module in ("archipel", "protean") and alias.name == "fields":
                    modules.add(bound)
                else:
                    elsewhere.add(bound)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in _FIELD_MODULES and alias.asname:
                    modules.add(alias.asname)
                elif alias.name in _FIELD_MODULES:
                    modules.add(alias.name)
    return {k: v for k, v in factories.items() if k not in elsewhere}, modules - elsewhere


def _factory(call: ast.Call, factories: dict[str, str], modules: set[str]) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return factories.get(func.id)
    if isinstance(func, ast.Attribute) and func.attr in ("String", "Text", "List", "Dict"):
        return func.attr if attribute_path(func.value) in modules else None
    return None


def _relies_on_default(call: ast.Call, factory: str) -> bool:
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return False  # unreadable: skipped
    declared = {k.arg: k.value for k in call.keywords}
    for name in ("sanitize", "choices"):
        value = declared.get(name)
        if value is not None and not (isinstance(value, ast.Constant) and value.value is None):
            return False
    if factory == "String" and len(call.args) > 2:
        return isinstance(call.args[2], ast.Constant) and call.args[2].value is None
    return not (factory == "Text" and call.args)


def _sanitize_default(trees: list[Tree], domain: Domain) -> list[UpgradeFinding]:
    defaults = domain.config.get("field_defaults") or {}
    if defaults.get("sanitize") is True:
        return []  # the domain keeps Protean's old default
    sites = []
    for module, tree in trees:
        factories, modules = _field_names(tree)
        if not factories and not modules:
            continue
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        inner = {id(arg) for call in calls if _factory(call, factories, modules) in ("List", "Dict")
                 for arg in [*call.args, *(k.value for k in call.keywords)] if isinstance(arg, ast.Call)}
        for call in calls:
            factory = _factory(call, factories, modules)
            if factory in ("String", "Text") and id(call) not in inner and _relies_on_default(call, factory):
                sites.append(f"{module}:{call.lineno}")
    return _finding(
        "SANITIZE_DEFAULT_CHANGED", sites, "String/Text field(s) relying on the old sanitize default",
        "Protean 0.18.0 flipped the String/Text `sanitize` default from True to False, and archipel "
        "follows it: a field leaving `sanitize` unset no longer has HTML stripped (bleach) from the "
        "value it stores. The fields that relied on the old default",
        "Encode these values where they are rendered as HTML (sanitizing is the display's concern); "
        "or pass `sanitize=True` on a field, or set [field_defaults] sanitize = true to keep the old "
        "default for the whole domain.",
        every_site=True,
    )


#: detectors and the Protean release each belongs to, in report order
DETECTORS: tuple[tuple[str, Detector], ...] = (
    ("0.16.0", _raw_sql), ("0.15.0", _middleware), ("0.14.0", _queue_status), ("0.18.0", _sanitize_default),
)


def run_opportunity_checks(domain: Domain, pinned_version: str = PROTEAN_COMPATIBLE) -> list[UpgradeFinding]:
    """The findings of every detector whose release is at or below ``pinned_version``."""
    pinned = parse_version(pinned_version)
    trees = domain_trees(domain)
    owned = tuple(
        _named(detector, trees) for release, detector in DETECTORS if parse_version(release) <= pinned
    )
    return run_checks(domain, owned)


def _named(detector: Detector, trees: list[Tree]) -> Callable[[Domain], list[UpgradeFinding]]:
    def check(domain: Domain) -> list[UpgradeFinding]:
        return detector(trees, domain)

    check.__name__ = detector.__name__
    return check
