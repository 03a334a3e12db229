"""Writing a projection rebuild's batches on a thread, behind the next batch."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["WriteBehind"]


class WriteBehind:
    """Runs one write at a time on a thread; :meth:`settle` waits for it (raising its error)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def settle(self) -> None:
        """Wait for the write in flight, if any; its error is raised here."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            pending.result()

    def submit(self, write: Callable[[], None]) -> None:
        """Start ``write`` once the previous one finished."""
        self.settle()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="archipel-rebuild-writer")
        self._pending = self._pool.submit(write)

    def close(self, quiet: bool = False) -> None:
        """Wait for the last write and stop the thread; its error is raised unless ``quiet``."""
        try:
            self.settle()
        except BaseException:
            if not quiet:
                raise
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
