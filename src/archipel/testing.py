"""Test helpers (Protean's ``protean.testing``).

:class:`DomainFixture` initialises a domain for tests and deletes its data
between them (also offered as pytest fixtures by
:mod:`archipel.integrations.pytest`). Protean's given/when/then helpers
(``given``, ``drain``, ``process_and_wait``, ``assert_chain``) are not in
archipel yet: see docs/porting.md.
"""

from archipel.integrations.pytest import DomainFixture

__all__ = ["DomainFixture"]
