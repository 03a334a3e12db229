"""``archipel upgrade-check``'s source findings against Protean's, on the same program.

Hypothesis writes a program from declaration and statement snippets (fields that
do or do not leave ``sanitize`` unset, status fields, raw SQL, middlewares, units
of work nested or calling out); it is written once for Protean and once renamed
for archipel, each a package with its domain, and both frameworks' detectors run:
the same codes, levels, counts and sites (``module:line``).
"""

from __future__ import annotations

import importlib
import itertools
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

protean_opportunities = pytest.importorskip("protean.upgrade_opportunities")
protean_uow = pytest.importorskip("protean.upgrade_uow")

from archipel.domain.upgrade_opportunities import run_opportunity_checks  # noqa: E402
from archipel.domain.upgrade_source import domain_trees, scan_units_of_work  # noqa: E402

HEADER = """\
import httpx
import sqlalchemy
from sqlalchemy import text
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.cors import CORSMiddleware
from protean import UnitOfWork
from protean.fields import List, String, Text
"""

SNIPPETS = {
    "plain_string": "    name = String(max_length=50)",
    "plain_text": "    body = Text()",
    "sanitized": "    safe = String(max_length=50, sanitize=True)",
    "sanitize_none": "    maybe = String(max_length=50, sanitize=None)",
    "positional_sanitize": "    pos = String(50, None, True)",
    "choices": "    kind = String(max_length=10, choices=['a', 'b'])",
    "nested_list": "    tags = List(String(max_length=10))",
    "queue_status": "    status = String(max_length=20, choices=['pending', 'processing', 'done'])",
    "other_status": "    state = String(max_length=20, choices=['active', 'inactive'])",
    "raw_sql": "    rows = text('select 1')",
    "raw_sql_module": "    rows = sqlalchemy.text('select 1')",
    "uow": "    with UnitOfWork():\n        pass",
    "nested_uow": "    with UnitOfWork():\n        with UnitOfWork():\n            pass",
    "io_in_uow": "    with UnitOfWork():\n        httpx.post('http://x')",
    "io_in_nested_uow": "    with UnitOfWork():\n        with UnitOfWork():\n            httpx.put('http://x')",
    "publish_in_uow": "    with UnitOfWork():\n        broker.publish('s', {})",
    "io_outside": "    httpx.get('http://x')",
    "client_in_uow": "    client = httpx.Client()\n    with UnitOfWork():\n        client.get('http://x')",
    "custom_middleware": "    app.add_middleware(Mine)",
    "cors_middleware": "    app.add_middleware(CORSMiddleware)",
    "middleware_class": "    class Mine(BaseHTTPMiddleware):\n        pass",
}

_count = itertools.count()


def _write(root: Path, package: str, framework: str, snippets: list[str]) -> None:
    folder = root / package
    folder.mkdir()
    (folder / "__init__.py").write_text(
        f"from {framework} import Domain\n\ndomain = Domain(name={package!r})\n"
    )
    body = [HEADER.replace("protean", framework)]
    for n, key in enumerate(snippets):
        body.append(f"\n\ndef step_{n}(app, broker):\n{SNIPPETS[key]}\n")
    (folder / "model.py").write_text("".join(body))


def _sites(detail: str, package: str) -> list[str]:
    found = re.search(r"(?:Found at|are at): (.*)\.$", detail)
    return [] if found is None else found.group(1).replace(f"{package}.", "").split(", ")


def _opportunities(findings: list[Any], package: str) -> list[tuple[str, str, str, list[str]]]:
    return [(f.code, f.level, f.title.split(" ")[0], _sites(f.detail, package)) for f in findings]


def _strip(sites: list[str], package: str) -> list[str]:
    return sorted(site.replace(f"{package}.", "") for site in sites)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snippets=st.lists(st.sampled_from(sorted(SNIPPETS)), max_size=7), pinned=st.sampled_from(
    ["0.13", "0.14.0", "0.15.2", "0.16.0rc1", "0.17", "0.18.0"]))
def test_the_findings_on_a_program_are_protean_s(snippets: list[str], pinned: str) -> None:
    root = Path(tempfile.mkdtemp())
    n = next(_count)
    theirs_pkg, ours_pkg = f"gen_protean_{n}", f"gen_archipel_{n}"
    _write(root, theirs_pkg, "protean", snippets)
    _write(root, ours_pkg, "archipel", snippets)
    sys.path.insert(0, str(root))
    try:
        theirs_domain = importlib.import_module(theirs_pkg).domain
        importlib.import_module(f"{ours_pkg}.model")
        ours_domain = importlib.import_module(ours_pkg).domain
        theirs = protean_opportunities.run_opportunity_checks(theirs_domain, pinned)
        ours = run_opportunity_checks(ours_domain, pinned)
        assert _opportunities(ours, ours_pkg) == _opportunities(theirs, theirs_pkg)
        nested, calls, blocks = protean_uow.scan_domain_source(theirs_domain)
        our_nested, our_calls, our_blocks = scan_units_of_work(domain_trees(ours_domain))
        assert our_blocks == blocks
        assert _strip(our_nested, ours_pkg) == _strip(nested, theirs_pkg)
        assert _strip(our_calls, ours_pkg) == _strip(calls, theirs_pkg)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.startswith((theirs_pkg, ours_pkg))]:
            del sys.modules[name]


class _Configured:
    """A domain as the configuration checks see it: its ``config`` only."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config


_database = st.fixed_dictionaries(
    {"provider": st.sampled_from(["postgresql", "sqlite", "memory"])},
    optional={"pool_size": st.integers(1, 20), "max_overflow": st.integers(0, 20)},
)


@given(databases=st.dictionaries(st.sampled_from(["default", "reports", "audit"]), _database, min_size=1))
def test_the_pool_findings_are_protean_s(databases: dict[str, dict[str, Any]]) -> None:
    from protean.upgrade import _check_pool_defaults

    from archipel.domain.upgrade import _pool_defaults

    domain = _Configured({"databases": databases})
    theirs = [(f.code, f.level, f.element, f.title) for f in _check_pool_defaults(domain)]  # type: ignore[arg-type]
    ours = [(f.code, f.level, f.element, f.title) for f in _pool_defaults(domain)]  # type: ignore[arg-type]
    assert ours == theirs
