"""The broker port: named streams of dict payloads, consumer groups, acks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Broker", "Delivery"]

#: ``(message_id, payload)`` as read from a stream
Delivery = tuple[str, dict[str, Any]]


class Broker(Protocol):
    """``publish`` appends a payload to a stream; consumers read in groups and ack."""

    name: str

    def publish(self, stream: str, payload: dict[str, Any]) -> str: ...

    def read(self, stream: str, group: str, consumer: str, count: int = 10) -> list[Delivery]: ...

    def ack(self, stream: str, group: str, message_id: str) -> None: ...

    def on_publish(self, callback: Callable[[str, dict[str, Any]], None] | None) -> None: ...

    def truncate(self) -> None: ...

    def close(self) -> None: ...
