"""archipel's pytest plugin, registered through the ``pytest11`` entry point (no conftest needed).

- ``--archipel-env NAME`` (or Protean's ``--protean-env NAME``): sets
  ``ARCHIPEL_ENV`` before tests are collected, so the ``[NAME]`` table of
  ``domain.toml`` applies to domains built at import time. Without the option
  it is ``test``, as in Protean's plugin, unless ``ARCHIPEL_ENV`` or
  ``PROTEAN_ENV`` is already set (a file without a ``[test]`` table is
  unaffected).
- ``--update-snapshots``: :func:`archipel.testing.assert_snapshot` rewrites its
  snapshot files instead of comparing with them.
- Markers ``domain`` (pure domain logic), ``application`` (handlers with a
  database), ``integration`` (real adapters), ``bdd`` (scenarios): tags for ``-m``.
- Fixtures:

  * ``domain_fixture``: ``domain_fixture(domain)`` sets ``domain`` up
    (:class:`DomainFixture`) for this test, with its tables, and tears it down after;
  * ``archipel_domain``: the domain ``given`` and ``scenario`` work on. Override
    it in your ``conftest.py`` (``return my_domain``); the default fails and says so;
  * ``given``: :func:`archipel.testing.given` (Protean's test sentences about an
    aggregate), with ``archipel_domain`` set up and active for the test, emptied after;
  * ``scenario``: ``scenario(*commands)`` starts a :class:`~.scenario.Scenario`
    (given commands, when a command, then events) on ``archipel_domain``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from archipel.integrations.pytest import DomainFixture
from archipel.integrations.pytest.scenario import Scenario

__all__ = ["archipel_domain", "domain_fixture", "given", "scenario"]

#: the environment tests run in when none is given (Protean's default)
DEFAULT_ENV = "test"

MARKERS = {
    "domain": "pure domain logic, no database",
    "application": "command and event handlers, with a database",
    "integration": "real adapters, several aggregates or domains",
    "bdd": "behaviour scenarios (given/when/then)",
    "slow": "slow tests (Protean's marker)",
}


def _protean_installed() -> bool:
    return importlib.util.find_spec("protean") is not None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("archipel")
    # Protean's plugin, installed beside archipel while porting or benchmarking, owns
    # --protean-env then (two plugins cannot both add it): its value is read below
    names = ["--archipel-env"] + ([] if _protean_installed() else ["--protean-env"])
    group.addoption(
        *names,
        dest="archipel_env",
        default=None,
        metavar="NAME",
        help="Set ARCHIPEL_ENV=NAME before collection (the [NAME] table of domain.toml applies); "
        f"default: {DEFAULT_ENV}, unless ARCHIPEL_ENV or PROTEAN_ENV is set.",
    )
    try:
        group.addoption(
            "--update-snapshots",
            action="store_true",
            default=False,
            help="Rewrite the files of archipel.testing.assert_snapshot instead of comparing with them.",
        )
    except ValueError:
        # another plugin (protean's, installed beside archipel while porting or
        # benchmarking) already registered the flag with the same meaning: read theirs
        pass


def pytest_configure(config: pytest.Config) -> None:
    env = config.getoption("archipel_env", default=None)
    if env:
        os.environ["ARCHIPEL_ENV"] = str(env)
    elif not (os.environ.get("ARCHIPEL_ENV") or os.environ.get("PROTEAN_ENV")):
        theirs = config.getoption("--protean-env", default=None) if _protean_installed() else None
        os.environ["ARCHIPEL_ENV"] = str(theirs or DEFAULT_ENV)
    if config.getoption("--update-snapshots", default=False):
        from archipel.integrations import assertions

        assertions.update_snapshots = True
    for name, meaning in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


@pytest.fixture
def domain_fixture() -> Iterator[Callable[[Any], DomainFixture]]:
    """``domain_fixture(domain)``: the domain set up for this test, torn down after it."""
    made: list[DomainFixture] = []

    def setup(domain: Any) -> DomainFixture:
        fixture = DomainFixture(domain)
        fixture.setup()
        made.append(fixture)
        return fixture

    yield setup
    for fixture in reversed(made):
        fixture.teardown()


@pytest.fixture
def archipel_domain() -> Any:
    """The domain ``given`` works on: override this fixture in your conftest.py."""
    pytest.fail(
        "the `given` fixture needs to know your domain: define a fixture "
        "`archipel_domain` returning it in conftest.py",
        pytrace=False,
    )


@pytest.fixture
def given(archipel_domain: Any, domain_fixture: Callable[[Any], DomainFixture]) -> Iterator[Any]:
    """:func:`archipel.testing.given`, inside ``archipel_domain``'s context for the whole test."""
    from archipel.testing import given as given_

    fixture = domain_fixture(archipel_domain)
    with fixture.domain_context():
        yield given_


@pytest.fixture
def scenario(
    archipel_domain: Any, domain_fixture: Callable[[Any], DomainFixture]
) -> Callable[..., Scenario]:
    """``scenario(*commands)``: a given/when/then scenario over commands on ``archipel_domain``."""
    domain_fixture(archipel_domain)

    def start(*commands: Any) -> Scenario:
        return Scenario(archipel_domain).given(*commands)

    return start
