"""Small helpers shared by the unit tests (fixtures live in conftest.py)."""

from __future__ import annotations

from archipel import Domain


def start(domain: Domain) -> Domain:
    """``init(traverse=False)`` the domain and create its tables; return it."""
    domain.init(traverse=False)
    with domain.domain_context():
        domain.setup_database()
    return domain
