"""Fault injection for Redis tests: a node refusing the commands that carry some payload.

Inside :func:`refusing`, connections made meanwhile send every command one of
whose arguments ``fault.matches`` under an unknown name: Redis answers that
command alone with an error and runs the others of its pipeline — as a
Redis Cluster node answers ``CLUSTERDOWN`` to one command of a pipeline
while it fails over and accepts the next ones. The servers are real; only
the bytes sent change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import redis


@dataclass
class Fault:
    """Which commands are refused (``matches(argument)``), how many more times, how many were."""

    matches: Callable[[bytes], bool] | None = None
    times: int | None = None  # None: every time
    refused: int = 0

    def refuse(self, args: tuple[Any, ...]) -> bool:
        if self.matches is None or self.times == 0:
            return False
        if not any(isinstance(a, bytes | str) and self.matches(_bytes(a)) for a in args):
            return False
        self.refused += 1
        if self.times is not None:
            self.times -= 1
        return True


class _RefusingPacker:
    def __init__(self, packer: Any, fault: Fault) -> None:
        self._packer = packer
        self._fault = fault

    def pack(self, *args: Any) -> Any:
        if self._fault.refuse(args):
            args = (b"ARCHIPEL-REFUSED", *args[1:])
        return self._packer.pack(*args)


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


@contextmanager
def refusing(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fault]:
    """A :class:`Fault` (refusing nothing until its ``matches`` is set) for connections made meanwhile."""
    fault = Fault()
    construct = redis.connection.AbstractConnection._construct_command_packer

    def refusing_packer(self: Any, packer: Any) -> Any:
        return _RefusingPacker(construct(self, packer), fault)

    with monkeypatch.context() as patched:
        patched.setattr(redis.connection.AbstractConnection, "_construct_command_packer", refusing_packer)
        yield fault
