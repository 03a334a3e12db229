"""archipel's pytest plugin loads beside another plugin that registers ``--update-snapshots``.

Protean 0.18's plugin registers the same flag; porting teams and the benchmarks
install both packages in one environment. archipel must then load, and the
flag (whoever registered it) must still make ``assert_snapshot`` rewrite.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

OTHER_PLUGIN = """
def pytest_addoption(parser):
    parser.getgroup("other").addoption("--update-snapshots", action="store_true", default=False)
"""

TEST_FILE = """
from archipel.testing import assert_snapshot

def test_snapshot():
    assert_snapshot({"answer": 42}, name="answer")
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(other_plugin=OTHER_PLUGIN, test_it=TEST_FILE)
    pytester.syspathinsert()
    return pytester


def test_archipel_loads_when_the_flag_is_already_registered(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("-p", "no:protean", "-p", "other_plugin", "-q")
    result.assert_outcomes(passed=1)


def test_the_flag_registered_elsewhere_still_rewrites_snapshots(project: pytest.Pytester) -> None:
    project.runpytest_subprocess("-p", "no:protean", "-p", "other_plugin", "-q").assert_outcomes(
        passed=1
    )
    snapshot = next(project.path.rglob("*answer*"))
    snapshot.write_text('{"answer": 41}\n')
    project.runpytest_subprocess("-p", "no:protean", "-p", "other_plugin", "-q").assert_outcomes(
        failed=1
    )
    project.runpytest_subprocess(
        "-p", "no:protean", "-p", "other_plugin", "-q", "--update-snapshots"
    ).assert_outcomes(passed=1)
    assert "42" in snapshot.read_text()
