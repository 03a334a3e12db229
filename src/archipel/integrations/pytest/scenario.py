"""Given / when / then for domain tests: commands in, the messages they caused out.

::

    def test_renaming(scenario):                    # the pytest plugin's fixture
        scenario(Register(name="a")).when(Rename(name="b")).then(Renamed)

``scenario(*commands)`` processes ``commands`` (the state the test starts from) on
the domain of the ``archipel_domain`` fixture; ``when(command)`` processes one
more and records the messages it caused (read from the event store, so the
real handlers, repositories and unit of work run); ``then(*event_classes)``
asserts the events raised, in order, and returns them; ``then_raises(exc)``
asserts that ``when`` failed with ``exc``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Scenario"]

_PAGE = 1000


class Scenario:
    """One given/when/then test over a domain (see the module docstring)."""

    def __init__(self, domain: Any) -> None:
        self.domain = domain
        self.result: Any = None
        self.error: BaseException | None = None
        self.messages: list[dict[str, Any]] = []

    def _end(self) -> int:
        store, position = self.domain.event_store, 0
        while True:
            page = store.read_all(after_global=position, limit=_PAGE)
            if not page:
                return position
            position = int(page[-1]["metadata"].get("global_position") or position + len(page))

    def given(self, *commands: Any) -> Scenario:
        """Process ``commands`` in order (their failures propagate: the setup is wrong)."""
        with self.domain.domain_context():
            for command in commands:
                self.domain.process(command)
        return self

    def when(self, command: Any) -> Scenario:
        """Process ``command``; remember its result or the error it raised, and what it caused."""
        with self.domain.domain_context():
            start = self._end()
            try:
                self.result = self.domain.process(command)
            except Exception as exc:
                self.error = exc
            self.messages = list(self.domain.event_store.read_all(after_global=start, limit=_PAGE))
        return self

    @property
    def events(self) -> list[Any]:
        """The events ``when`` caused, as event objects."""
        found = []
        for stored in self.messages:
            meta = stored["metadata"]
            if str(meta.get("kind") or "").upper() != "EVENT":
                continue
            cls = self.domain.router.messages.get(meta.get("type"))
            found.append(cls.from_message(stored) if cls is not None else stored)
        return found

    def then(self, *event_classes: type) -> list[Any]:
        """Assert that ``when`` succeeded and raised exactly these events, in this order."""
        if self.error is not None:
            raise AssertionError(f"expected events, but the command failed: {self.error!r}") from self.error
        raised = self.events
        names = [type(e).__name__ for e in raised]
        wanted = [cls.__name__ for cls in event_classes]
        assert names == wanted, f"events raised: {names}, expected: {wanted}"
        return raised

    def then_raises(self, exception: type[BaseException]) -> BaseException:
        """Assert that ``when`` failed with ``exception`` (or a subclass); return it."""
        assert self.error is not None, f"expected {exception.__name__}, but the command succeeded"
        assert isinstance(self.error, exception), f"expected {exception.__name__}, got {self.error!r}"
        return self.error
