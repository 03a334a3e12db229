"""Helpers for the core's unit tests: throwaway domains on the memory adapters."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from archipel import Domain

MEMORY = {
    "databases": {"default": {"provider": "memory"}},
    "event_store": {"provider": "memory"},
    "brokers": {"default": {"provider": "inline"}},
}


@pytest.fixture
def make_domain() -> Iterator[Callable[..., Domain]]:
    """Build domains on the memory adapters; shut them down (leave the hub) after the test.

    ``make_domain("Shop")`` uses that exact name (tests that check names derived from it);
    without a name a unique one is generated. Extra keyword arguments are config keys.
    """
    created: list[Domain] = []

    def factory(name: str | None = None, **config: Any) -> Domain:
        domain = Domain(
            name=name or f"Test{uuid.uuid4().hex[:8]}",
            config={**MEMORY, **config},
        )
        created.append(domain)
        return domain

    yield factory
    for domain in created:
        if domain.initialized:
            domain.shutdown()
