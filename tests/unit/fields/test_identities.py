"""Generated identities: version-4 UUID text, unique across threads and forked processes."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from archipel.fields.simple import new_identity


def test_identities_are_version_4_uuid_text():
    for _ in range(600):  # more than one draw of random bytes
        text = new_identity()
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_identities_drawn_by_several_threads_are_all_different():
    drawn: list[list[str]] = [[] for _ in range(4)]

    def draw(into: list[str]) -> None:
        into.extend(new_identity() for _ in range(3000))

    threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [text for into in drawn for text in into]
    assert len(set(every)) == len(every) == 12000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_repeats_its_parents_identities():
    new_identity()  # the parent holds unused random bytes now
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.write(write_end, ",".join(new_identity() for _ in range(5)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child = pipe.read().split(",")
    os.waitpid(pid, 0)
    parent = [new_identity() for _ in range(5)]
    assert len(child) == 5
    assert not set(child) & set(parent)
