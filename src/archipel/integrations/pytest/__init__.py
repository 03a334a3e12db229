"""Testing kit: ``DomainFixture`` for pytest fixtures.

Usage (seed 000)::

    @pytest.fixture(scope="session")
    def identity_fixture():
        fixture = DomainFixture(identity_domain)
        fixture.setup()
        yield fixture
        fixture.teardown()

    def test_x(identity_fixture):
        with identity_fixture.domain_context():
            ...   # data written here is gone after the block

Query assertions (Protean's, in :mod:`.query_assertions`): ``assert_query_count``,
``capture_queries``, ``assert_no_subquery_wrap``, ``assert_no_overfetch``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from archipel.integrations.pytest.query_assertions import (
    assert_no_overfetch,
    assert_no_subquery_wrap,
    assert_query_count,
    capture_queries,
)

__all__ = [
    "DomainFixture",
    "assert_no_overfetch",
    "assert_no_subquery_wrap",
    "assert_query_count",
    "capture_queries",
]


class DomainFixture:
    """Initialises a domain for tests and resets its data between tests."""

    def __init__(self, domain: Any) -> None:
        self.domain = domain
        self._set_up = False

    def setup(self) -> None:
        """``init()`` the domain and create its tables."""
        self.domain.init()
        with self.domain.domain_context():
            self.domain.setup_database()
        self._set_up = True

    def teardown(self) -> None:
        """Remove the data and tables, close adapters (the domain may be set up again)."""
        if not self.domain.initialized:
            return
        with self.domain.domain_context():
            try:
                self.domain.drop_database()
            finally:
                self.domain.shutdown()
        self._set_up = False

    def reset(self) -> None:
        """Delete all data of the domain (tables stay)."""
        if self.domain.initialized:
            self.domain.truncate_database()

    @contextmanager
    def domain_context(self) -> Iterator[Any]:
        """Activate the domain; on exit, delete everything written inside."""
        if not self.domain.initialized:
            self.setup()
        with self.domain.domain_context() as domain:
            try:
                yield domain
            finally:
                self.reset()
