"""Protean 0.18 behaviour, against Protean itself: the porting promise, checked.

Each scenario is one small program (``protean_oracle/<name>.txt``, ``PKG`` standing
for the package); renamed, it runs under ``protean`` and under
``archipel`` (memory adapters) and sets ``RESULT``, a dict of observations. Every
observation must be equal, except the ones listed in ``KNOWN``: those are documented
differences (docs/porting.md) and must still differ, so fixing one means removing
its entry here. Sync event handler order is compared as a multiset: Protean keeps
an event's handlers in a ``set`` (no defined order), archipel runs them in
registration order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

protean = pytest.importorskip("protean", reason="the dev extra installs Protean 0.18")

PROGRAMS = Path(__file__).parent / "protean_oracle"

SCENARIOS: dict[str, str] = {path.stem: path.read_text() for path in sorted(PROGRAMS.glob("*.txt"))}

#: (scenario, observation) -> why it differs (each is in docs/porting.md)
KNOWN: dict[tuple[str, str], str] = {
    ("queries", "exclude"): "a negated lookup matches None (Protean: a NULL never matches)",
    ("queries", "q_not"): "a negated lookup matches None (Protean: a NULL never matches)",
    ("query_edges", "limit_0"): "limit(0) is no records (Protean's memory adapter: no limit)",
    ("query_edges", "exclude_two"): "exclude(a=, b=) is NOT (a AND b) (Protean negates each lookup)",
    ("query_edges", "nested_not"): "~(a | b) is NOT (a OR b) (Protean negates each lookup)",
    ("query_edges", "exact_none"): "filter(x=None) is isnull (Protean's memory adapter: nothing)",
    ("aggregates", "version_unchanged_save"): "saving an unchanged aggregate bumps _version",
    ("aggregates", "to_dict_keys"): "to_dict keeps an unset ValueObject as None",
    ("aggregates", "ev_id_prefix"): "message ids are time-ordered UUIDs",
    ("aggregates", "ev_eq"): "raised events compare by data",
    ("aggregates", "val_vo"): "a bad value object is reported under its field",
    ("aggregates", "val_assign"): "validation messages are archipel's words",
    ("versions_and_dicts", "unraised_ne"): "events compare by data (Protean: equal while unraised)",
    ("versions_and_dicts", "ver_noop"): "saving an unchanged aggregate bumps _version",
    ("versions_and_dicts", "ver_same_value"): "saving an unchanged aggregate bumps _version",
    ("versions_and_dicts", "to_dict_none_vo"): "to_dict keeps an unset ValueObject as None (no _version)",
    ("versions_and_dicts", "to_dict_vo"): "to_dict has no _version",
    ("versions_and_dicts", "ev_to_dict"): "to_dict of a message is its data",
    ("handling", "idem2"): "idempotency keys need no Redis: the duplicate returns the first result",
    ("event_sourced_and_queries", "ver_after_open"): "an event-sourced _version moves when stored",
    ("event_sourced_and_queries", "ver_after_deposits"): "an event-sourced _version moves when stored",
    ("event_sourced_and_queries", "es_final"): "Protean reads a conflicting write back (its bug)",
    ("in_place_changes", "list_append_saved"): "every add saves: in-place changes persist",
    ("in_place_changes", "dict_saved"): "every add saves: in-place changes persist",
    ("in_place_changes", "child_changed"): "a changed child marks its aggregate changed",
    ("in_place_changes", "child_saved"): "every add saves: _version moves on each add",
    ("repository_operations", "values_only"): "to_dict has no _version",
    ("services_and_invariants", "max_len"): "validation messages are archipel's words",
    ("value_objects_and_entities", "slot_dao"): "an entity has no repository of its own",
    ("field_validation", "choice_enum"): "String(choices=Enum) takes a member as its value",
    ("units_of_work", "add_rolled_back"): "Protean's memory adapter keeps a failed unit of work's writes here",
    ("units_of_work", "delete_rolled_back"): "Protean's memory adapter keeps a failed unit of work's writes here",
}

#: observations compared as multisets (Protean's order is a set's)
UNORDERED = {("handling", "log"), ("handling", "idem_log"), ("cross_stream_handlers", "log")}


def run_program(pkg: str, source: str) -> dict[str, Any]:
    """Run the program renamed to ``pkg`` in a fresh interpreter (Protean keeps
    process-wide state, such as a unit of work left open by a failed save) and
    return its ``RESULT`` as JSON reads it back."""
    program = textwrap.dedent(source).replace("PKG", pkg)
    runner = (
        "import json, logging, sys\n"
        "logging.disable(logging.CRITICAL)\n"
        "namespace = {'__name__': 'oracleprog'}\n"
        "exec(compile(sys.stdin.read(), 'oracleprog.py', 'exec'), namespace)\n"
        "print(json.dumps(namespace['RESULT'], default=repr))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "ARCHIPEL_NO_AUTO_LOGGING": "1",
           "PROTEAN_NO_AUTO_LOGGING": "1"}
    done = subprocess.run(  # noqa: S603 - our own interpreter and program
        [sys.executable, "-W", "ignore", "-c", runner], input=program, capture_output=True, text=True,
        env=env, cwd=tempfile.gettempdir(), timeout=120, check=False,
    )
    assert done.returncode == 0, f"the program failed under {pkg}:\n{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _normal(scenario: str, key: str, value: Any) -> Any:
    if (scenario, key) in UNORDERED:
        return sorted(map(json.dumps, value))
    return value


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_same_behaviour_as_protean(scenario: str) -> None:
    """Every observation of the program is Protean's, or a documented difference."""
    source = SCENARIOS[scenario]
    expected = run_program("protean", source)
    actual = run_program("archipel", source)
    assert sorted(actual) == sorted(expected), "the programs observe different things"
    different = {
        key: (expected[key], actual[key])
        for key in expected
        if _normal(scenario, key, expected[key]) != _normal(scenario, key, actual[key])
    }
    unexplained = {key: pair for key, pair in different.items() if (scenario, key) not in KNOWN}
    assert not unexplained, f"archipel differs from Protean 0.18 (protean, archipel): {unexplained}"
    fixed = sorted(key for (name, key) in KNOWN if name == scenario and key not in different)
    assert not fixed, f"known differences that no longer differ (remove them from KNOWN): {fixed}"


def test_every_known_difference_names_a_scenario() -> None:
    assert {name for name, _ in KNOWN} | {name for name, _ in UNORDERED} <= set(SCENARIOS)
