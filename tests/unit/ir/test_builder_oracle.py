"""``ir show`` against Protean 0.18 itself: one domain declared in both frameworks
(``oracle_domain.txt``, ``FRAMEWORK`` replaced by ``protean`` or ``archipel``) gives the same IR.

Aggregates (classic, event-sourced with @apply, with fact events), entities, value objects,
commands, events (published, versioned), command and event handlers, repositories,
application and domain services, projections with projectors, queries and query handlers,
subscribers and upcasters are covered; every field kind the domain declares too.

A third domain (``oracle_source.txt``) has method bodies that raise events, invoke cluster
methods, filter repositories, write projections and call out, so the ``method_edges`` and the
findings Protean derives from the source are compared too.

Compared modulo what is documented in docs/porting.md (section "The domain IR"):
module names (each copy lives in its own module), ``checksum`` and ``generated_at``,
``diagnostics`` (compared on their own, below: archipel does not run Protean's deprecation
schedule rules), and the differences in :data:`KNOWN` (each a behaviour of archipel's model
the IR reports truthfully).
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.unit.ir.edges import method_edges as _edges

pytest.importorskip("protean", reason="Protean 0.18 is the oracle (pip install -e '.[bench]')")
jsonschema = pytest.importorskip("jsonschema")

from archipel.ir import load_schema  # noqa: E402
from archipel.ir.builder import IRBuilder  # noqa: E402

HERE = Path(__file__).parent
VOLATILE = ("checksum", "generated_at", "diagnostics", "x-archipel")


def _import(tmp_path: Path, template: str, framework: str) -> Any:
    name = f"ir_{template}_{framework}"
    source = (HERE / f"{template}.txt").read_text()
    (tmp_path / f"{name}.py").write_text(source.replace("FRAMEWORK", framework))
    sys.path.insert(0, str(tmp_path))
    try:
        sys.modules.pop(name, None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = importlib.import_module(name)
            module.d.init(traverse=False)
    finally:
        sys.path.remove(str(tmp_path))
    return module


def _normal(ir: dict[str, Any], module: str) -> dict[str, Any]:
    text = json.dumps({k: v for k, v in ir.items() if k not in VOLATILE}, sort_keys=True)
    text = text.replace(f'"{module}.', '"M.').replace(f'"{module}"', '"M"')
    return json.loads(text)


#: per domain: (path in the normalised document, archipel's value; None: absent), each a documented difference
def _pm(name: str) -> list[tuple[tuple[str, ...], Any]]:
    # archipel keys a process manager's instances by their correlation value, in a repository:
    # no auto id field, no stream of its own, no transition events (x-archipel.omitted says so)
    pm = ("flows", "process_managers", f"M.{name}")
    return [((*pm, "fields", "id"), None), ((*pm, "identity_field"), None),
            ((*pm, "stream_category"), None), ((*pm, "transition_event"), None)]


KNOWN: dict[str, list[tuple[tuple[str, ...], Any]]] = {"oracle_domain": [
    # Protean builds a fact event through ABCMeta, so its module is "abc"; archipel's lives in the
    # aggregate's module. Its fields: Protean writes the id as a plain String and drops constraints,
    # archipel's fact event clones the aggregate's fields (optional), id included.
    (("clusters", "M.Customer", "events", "M.CustomerFactEvent", "module"), "M"),
    (("clusters", "M.Customer", "events", "M.CustomerFactEvent", "fields", "id"),
     {"auto_generated": True, "identifier": True, "kind": "auto", "type": "Auto"}),
    (("clusters", "M.Customer", "events", "M.CustomerFactEvent", "fields", "name", "max_length"), 50),
], "oracle_domain2": _pm("Closing"), "oracle_source": _pm("Fulfilment")}


def _apply_known(doc: dict[str, Any], template: str) -> dict[str, Any]:
    text = json.dumps(doc).replace('"abc.CustomerFactEvent"', '"M.CustomerFactEvent"')
    doc = json.loads(text)
    for path, value in KNOWN[template]:
        node = doc
        for key in path[:-1]:
            node = node[key]
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    doc["elements"]["EVENT"] = sorted(doc["elements"]["EVENT"])
    return doc


@pytest.fixture(scope="module", params=sorted(KNOWN))
def both(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, str]:
    tmp = tmp_path_factory.mktemp("ir_oracle")
    template = request.param
    theirs = _import(tmp, template, "protean").d.to_ir()
    ours = IRBuilder(_import(tmp, template, "archipel").d).build()
    return theirs, ours, template


def test_the_ir_is_protean_s_for_every_element_kind(both):
    theirs, ours, template = both
    expected = _apply_known(_normal(theirs, f"ir_{template}_protean"), template)
    actual = _normal(ours, f"ir_{template}_archipel")
    for section in sorted(expected.keys() | actual.keys()):
        assert actual.get(section) == expected.get(section), section


def test_the_known_differences_are_still_differences(both):
    # when one disappears (archipel or Protean changed), KNOWN and docs/porting.md must shrink
    theirs, ours, template = both
    assert _normal(theirs, f"ir_{template}_protean") != _normal(ours, f"ir_{template}_archipel")


def test_the_ir_validates_against_protean_s_schema(both):
    ours = copy.deepcopy(both[1])
    errors = list(jsonschema.Draft202012Validator(load_schema()).iter_errors(ours))
    if ours["flows"]["process_managers"]:
        # only the process managers' documented omissions (x-archipel.omitted.process_managers)
        assert {e.path[0] for e in errors} <= {"flows"}
        assert ours["x-archipel"]["omitted"]["process_managers"]
        for pm in ours["flows"]["process_managers"].values():
            pm["transition_event"] = {"fqn": "x", "__type__": "x"}
            pm.setdefault("identity_field", "x")
            pm.setdefault("stream_category", "x")
        errors = list(jsonschema.Draft202012Validator(load_schema()).iter_errors(ours))
    assert errors == []
    assert ours["$schema"] == "https://protean.dev/ir/v0.3.0/schema.json"
    assert ours["ir_version"] == "0.3.0"


def test_the_vendored_schema_is_protean_s():
    import protean.ir

    assert load_schema() == protean.ir.load_schema()


def test_the_ir_says_what_it_omits(both):
    _, ours, _ = both
    assert set(ours["x-archipel"]["omitted"]) - {"process_managers"} == {"diagnostics"}
    assert "DEPRECATED_OPTION" in ours["x-archipel"]["omitted"]["diagnostics"]


#: Protean's rules archipel does not run (docs/porting.md, Domain.check())
NOT_RUN = {"DEPRECATED_OPTION", "DEPRECATED_EMAIL", "DEPRECATED_CONFIG", "DEPRECATED_IMPORT", "LOW_POOL_SIZE"}


def _findings(ir: dict[str, Any], framework: str, module: str) -> list[tuple[str, str, Any, str, str]]:
    """(code, element, field, level, message), the module and the package's name made neutral."""
    text = json.dumps([
        # archipel names its own setting for published events' broker ([integration] broker)
        (d["code"], d["element"], d.get("field"), d["level"],
         d["message"] if d["code"] != "PUBLISHED_NO_EXTERNAL_BROKER" else "")
        for d in ir["diagnostics"] if d["code"] not in NOT_RUN
    ]).replace(module, "M").replace(f"{framework}.adapters", "FRAMEWORK.adapters")
    return [tuple(f) for f in json.loads(text)]


def test_the_ir_lists_protean_s_findings_those_from_source_analysis_included(both):
    theirs, ours, template = both
    expected = _findings(theirs, "protean", f"ir_{template}_protean")
    assert _findings(ours, "archipel", f"ir_{template}_archipel") == expected
    if template == "oracle_source":  # the comparison covers every source rule
        assert {f[0] for f in expected} >= {
            "UNRAISED_EVENT", "UNSOURCED_PROJECTION_FIELD", "UNINDEXED_FILTER_PATH",
            "HANDLER_PERSISTS_AND_CALLS_OUT", "INFRA_IMPORT_IN_DOMAIN", "ADAPTER_CALL_IN_DOMAIN"}


def test_method_edges_are_protean_s(both):
    theirs, ours, template = both
    expected = _edges(_normal(theirs, f"ir_{template}_protean"))
    assert _edges(_normal(ours, f"ir_{template}_archipel")) == expected
    if template == "oracle_source":  # raises on aggregates and entities, invokes from every handler kind
        kinds = {path[0] if path[0] != "clusters" else path[2] for path in expected}
        assert kinds == {"aggregate", "entities", "command_handlers", "event_handlers", "flows", "projections"}
