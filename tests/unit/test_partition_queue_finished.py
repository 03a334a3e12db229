"""A partition run takes the entries it finished out of its lane's queue, the rest stay in order."""

from __future__ import annotations

from collections import deque

from hypothesis import given
from hypothesis import strategies as st

from archipel.engine.partition_run import PartitionRunner
from archipel.engine.queue import Item


@given(st.lists(st.booleans(), max_size=40), st.data())
def test_finished_entries_leave_the_queue_in_order_and_the_others_stay_in_order(
    done_flags: list[bool], data: st.DataObject
) -> None:
    # a run finishes entries only among those it looked at: the first ``scanned``
    scanned = data.draw(st.integers(min_value=0, max_value=len(done_flags)))
    items = [Item(None, "production") for _ in done_flags]  # type: ignore[arg-type]
    for item, done in zip(items[:scanned], done_flags[:scanned], strict=True):
        item.done = done
    queue = deque(items)

    finished = PartitionRunner._take_finished(queue, scanned)

    # acknowledged in queue order, each once; nothing unfinished is dropped or reordered
    assert finished == [item for item in items if item.done]
    assert list(queue) == [item for item in items if not item.done]
