"""Protean 0.18's nesting of units of work (its ADR-0027), against Protean itself.

A unit of work begun while another of the same domain is active joins it: one
transaction, committed by the outermost; a failure inside dooms the whole. The
same program, renamed, runs under ``protean`` and ``archipel`` (memory stores) and
must store the same things. Then the same rule on real SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import sys
import textwrap
import types
from typing import Any

import pytest

protean = pytest.importorskip("protean", reason="the dev extra installs Protean 0.18")

PROGRAM = """
from PKG import Domain, handle, use_case
from PKG.core.aggregate import BaseAggregate
from PKG.core.application_service import BaseApplicationService
from PKG.core.command import BaseCommand
from PKG.core.command_handler import BaseCommandHandler
from PKG.core.event import BaseEvent
from PKG.core.unit_of_work import UnitOfWork
from PKG.fields import Identifier, String
from PKG.utils.globals import current_domain

domain = Domain(name="Nest", config=CONFIG)

@domain.aggregate
class Item(BaseAggregate):
    item_id = Identifier(identifier=True)
    name = String()

@domain.event(part_of=Item)
class Named(BaseEvent):
    item_id = Identifier(identifier=True)

@domain.command(part_of=Item)
class Make(BaseCommand):
    item_id = Identifier(identifier=True)
    fail = String()

@domain.command(part_of=Item)
class MakeTwo(BaseCommand):
    item_id = Identifier(identifier=True)
    other = Identifier()
    fail = String()

@domain.application_service(part_of=Item)
class Items(BaseApplicationService):
    @use_case
    def make(self, item_id):
        current_domain.repository_for(Item).add(Item(item_id=item_id, name="service"))

@domain.command_handler(part_of=Item)
class Makers(BaseCommandHandler):
    @handle(Make)
    def make(self, command):
        item = Item(item_id=command.item_id, name="made")
        item.raise_(Named(item_id=command.item_id))
        current_domain.repository_for(Item).add(item)
        if command.fail == "inner":
            raise RuntimeError("the inner handler fails")

    @handle(MakeTwo)
    def make_two(self, command):
        current_domain.repository_for(Item).add(Item(item_id=command.item_id, name="first"))
        current_domain.process(Make(item_id=command.other))
        Items().make(command.item_id + "-svc")
        if command.fail == "outer":
            raise RuntimeError("the outer handler fails")

def add(item_id):
    current_domain.repository_for(Item).add(Item(item_id=item_id, name="x"))

def scenarios():
    \"\"\"name -> a callable that runs one scenario (it may raise)\"\"\"

    def both_commit():
        with UnitOfWork():
            add("a1")
            with UnitOfWork():
                add("b1")

    def outer_fails():
        with UnitOfWork():
            add("a2")
            with UnitOfWork():
                add("b2")
            raise RuntimeError("outer")

    def inner_fails_caught():
        with UnitOfWork():
            add("a3")
            try:
                with UnitOfWork():
                    add("b3")
                    raise RuntimeError("inner")
            except RuntimeError:
                pass
            add("c3")

    def inner_rolled_back_by_hand():
        with UnitOfWork():
            add("a4")
            inner = UnitOfWork()
            inner.start()
            add("b4")
            inner.rollback()

    def inner_started_and_committed():
        with UnitOfWork():
            add("a5")
            inner = UnitOfWork()
            inner.start()
            add("b5")
            inner.commit()
            raise RuntimeError("outer")

    def command_inside():
        with UnitOfWork():
            current_domain.process(Make(item_id="m6"))
            raise RuntimeError("outer")

    def service_inside():
        with UnitOfWork():
            Items().make("s7")
            raise RuntimeError("outer")

    def handler_chain_fails():
        current_domain.process(MakeTwo(item_id="t8", other="o8", fail="outer"))

    def handler_chain_commits():
        current_domain.process(MakeTwo(item_id="t9", other="o9"))

    def inner_command_fails_caught():
        with UnitOfWork():
            add("a10")
            try:
                current_domain.process(Make(item_id="m10", fail="inner"))
            except RuntimeError:
                pass

    return {f.__name__: f for f in (
        both_commit, outer_fails, inner_fails_caught, inner_rolled_back_by_hand,
        inner_started_and_committed, command_inside, service_inside, handler_chain_fails,
        handler_chain_commits, inner_command_fails_caught,
    )}

IDS = ["a1", "b1", "a2", "b2", "a3", "b3", "c3", "a4", "b4", "a5", "b5", "m6", "s7",
       "t8", "o8", "t8-svc", "t9", "o9", "t9-svc", "a10", "m10"]
"""


def run_program(pkg: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run every scenario under ``pkg``: which raised, which items are stored, and how
    many 'nested ... rolled back' warnings were logged."""
    module = types.ModuleType("nestprog")
    sys.modules["nestprog"] = module
    module.CONFIG = {"event_processing": "sync", "command_processing": "sync", **(config or {})}  # type: ignore[attr-defined]
    source = textwrap.dedent(PROGRAM).replace("PKG", pkg)
    warnings: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "nested" in record.getMessage().lower():
                warnings.append(record.getMessage())

    keep = Keep(logging.WARNING)
    root = logging.getLogger(pkg)
    root.addHandler(keep)
    try:
        exec(compile(source, "nestprog.py", "exec"), module.__dict__)  # noqa: S102
        domain = module.domain
        domain.init(traverse=False)
        raised: dict[str, str | None] = {}
        with domain.domain_context():
            if pkg == "archipel" and config:
                domain.setup_database()
            for name, scenario in module.scenarios().items():
                try:
                    scenario()
                    raised[name] = None
                except RuntimeError as exc:
                    raised[name] = str(exc)
            repo = domain.repository_for(module.Item)
            stored = sorted(i for i in module.IDS if _found(repo, i))
            if pkg == "archipel" and config:
                domain.drop_database()
    finally:
        root.removeHandler(keep)
        del sys.modules["nestprog"]
    return {"raised": raised, "stored": stored, "warnings": len(warnings)}


def _found(repo: Any, identity: str) -> bool:
    try:
        repo.get(identity)
    except Exception:  # each framework's ObjectNotFoundError
        return False
    return True


def test_nesting_behaves_as_protean_s() -> None:
    ours = run_program("archipel")
    theirs = run_program("protean")
    assert ours["raised"] == theirs["raised"]
    assert ours["stored"] == theirs["stored"]
    # joined, so: everything of a committed outermost, nothing of a failed or doomed one
    assert ours["stored"] == ["a1", "b1", "o9", "t9", "t9-svc"]
    assert ours["warnings"] == theirs["warnings"] >= 2


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_nesting_is_one_transaction_on_real_stores(store: str, tmp_path: Any, request: pytest.FixtureRequest) -> None:
    if store == "sqlite":
        uri = f"sqlite:///{tmp_path / 'nest.db'}"
    else:
        uri = request.getfixturevalue("postgres_db_url")
    config = {"databases": {"default": {"provider": store, "database_uri": uri}}, "event_store": {"provider": store}}
    ours = run_program("archipel", config)
    assert ours["stored"] == ["a1", "b1", "o9", "t9", "t9-svc"]
    assert ours["raised"] == run_program("archipel")["raised"]


def test_a_joined_unit_of_work_reads_what_the_outermost_holds() -> None:
    from archipel import BaseAggregate, Domain
    from archipel.fields import Identifier, String
    from archipel.handling.unit_of_work import UnitOfWork

    domain = Domain(name="Reads")

    @domain.aggregate
    class Box(BaseAggregate):
        box_id = Identifier(identifier=True)
        label = String()

    domain.init(traverse=False)
    with domain.domain_context():
        repo = domain.repository_for(Box)
        repo.add(Box(box_id="k", label="old"))
        with UnitOfWork() as outer:
            box = repo.get("k")
            box.label = "new"
            repo.add(box)
            with UnitOfWork() as inner:
                assert inner.in_progress and outer.in_progress
                assert repo.get("k") is box  # one identity map: the outermost's
                assert inner.commit() == []
            assert repo.get("k").label == "new"
        assert repo.get("k").label == "new"


def test_a_joined_command_s_events_are_caused_by_it_and_published_once_committed() -> None:
    from archipel import BaseAggregate, BaseCommand, BaseEvent, BaseEventHandler, Domain, handle
    from archipel.fields import Identifier
    from archipel.utils.globals import current_domain

    domain = Domain(name="Causes", config={"event_processing": "sync", "command_processing": "sync"})
    seen: dict[str, Any] = {}
    handled: list[str] = []

    @domain.aggregate
    class Part(BaseAggregate):
        part_id = Identifier(identifier=True)

    @domain.event(part_of=Part)
    class Made(BaseEvent):
        part_id = Identifier(identifier=True)

    @domain.command(part_of=Part)
    class MakePart(BaseCommand):
        part_id = Identifier(identifier=True)

    @domain.command(part_of=Part)
    class MakeTwoParts(BaseCommand):
        part_id = Identifier(identifier=True)

    @domain.command_handler(part_of=Part)
    class Parts:
        @handle(MakePart)
        def make(self, command: Any) -> None:
            seen[command.part_id] = command._metadata.id
            part = Part(part_id=command.part_id)
            part.raise_(Made(part_id=command.part_id))
            current_domain.repository_for(Part).add(part)

        @handle(MakeTwoParts)
        def make_two(self, command: Any) -> None:
            current_domain.process(MakePart(part_id=command.part_id + "-a"))
            handled.append("inner returned")  # nothing dispatched yet: one transaction
            current_domain.process(MakePart(part_id=command.part_id + "-b"))

    @domain.event_handler(part_of=Part)
    class OnMade(BaseEventHandler):
        @handle(Made)
        def on_made(self, event: Any) -> None:
            handled.append(event.part_id)

    domain.init(traverse=False)
    outer = MakeTwoParts(part_id="p")
    with domain.domain_context():
        domain.process(outer)
        stored = domain.event_store.read_correlated(outer._metadata.id)
    made = {m["data"]["part_id"]: m["metadata"] for m in stored if m["metadata"]["type"].endswith("Made.v1")}
    assert {k: v["causation_id"] for k, v in made.items()} == {"p-a": seen["p-a"], "p-b": seen["p-b"]}
    assert {v["correlation_id"] for v in made.values()} == {outer._metadata.id}
    assert handled == ["inner returned", "p-a", "p-b"]  # handled once, after the one commit
