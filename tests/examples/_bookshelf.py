"""Shared helpers for the Bookshelf example's tests.

:func:`memory_bookshelf` runs the real ``examples.bookshelf`` domain on the
memory adapters: the configuration is changed before ``init()`` (the
``domain.toml`` default is SQLite) and put back afterwards.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from archipel import Domain
from archipel.integrations.pytest import DomainFixture

ROOT = Path(__file__).resolve().parents[2]

MEMORY: dict[str, Any] = {
    "databases": {"default": {"provider": "memory"}},
    "event_store": {"provider": "memory"},
    "brokers": {"default": {"provider": "inline"}},
}


@contextmanager
def memory_bookshelf(**settings: Any) -> Iterator[DomainFixture]:
    """The Bookshelf domain on memory adapters (plus ``settings``), initialised, tables created."""
    from examples.bookshelf import domain

    if domain.initialized:
        domain.shutdown()
    saved = copy.deepcopy(dict(domain.config))
    domain.config.update(copy.deepcopy({**MEMORY, **settings}))
    fixture = DomainFixture(domain)
    fixture.setup()
    try:
        yield fixture
    finally:
        fixture.teardown()
        domain.config.clear()
        domain.config.update(saved)


def story_env(**overrides: str | None) -> dict[str, str]:
    """Environment of a ``python -m examples.bookshelf`` subprocess: importable, wide, plain."""
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb", "PYTHONDONTWRITEBYTECODE": "1"})
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def story_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "examples.bookshelf", *args]


def event_types(domain: Domain, stream: str) -> list[str]:
    """Short type names (``OrderShipped``) of the messages on ``stream``, in order."""
    return [m["metadata"]["type"].split(".")[1] for m in domain.event_store.read_stream(stream)]
