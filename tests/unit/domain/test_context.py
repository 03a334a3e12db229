"""``current_domain`` and ``domain.domain_context()`` on contextvars."""

from __future__ import annotations

import asyncio
import threading

import pytest

from archipel import current_domain
from archipel.errors import IncorrectUsageError


def test_current_domain_is_falsy_outside_any_context():
    assert not current_domain
    assert bool(current_domain) is False


def test_using_current_domain_outside_a_context_says_how_to_fix_it():
    with pytest.raises(IncorrectUsageError, match="domain_context"):
        current_domain.name  # noqa: B018


def test_current_domain_is_the_active_domain(make_domain):
    domain = make_domain()
    with domain.domain_context() as active:
        assert active is domain
        assert current_domain
        assert current_domain.name == domain.name
        assert current_domain == domain
    assert not current_domain


def test_contexts_nest_and_restore_the_outer_domain(make_domain):
    outer, inner = make_domain(), make_domain()
    with outer.domain_context():
        with inner.domain_context():
            assert current_domain.name == inner.name
            with outer.domain_context():
                assert current_domain.name == outer.name
            assert current_domain.name == inner.name
        assert current_domain.name == outer.name


def test_context_is_restored_when_the_block_raises(make_domain):
    outer, inner = make_domain(), make_domain()
    with outer.domain_context():
        with pytest.raises(RuntimeError):
            with inner.domain_context():
                raise RuntimeError("boom")
        assert current_domain.name == outer.name


def test_threads_do_not_see_each_others_domain(make_domain):
    first, second = make_domain(), make_domain()
    barrier = threading.Barrier(2)
    seen: dict[str, object] = {}

    def work(domain, key):
        with domain.domain_context():
            barrier.wait()  # both contexts are active at the same time
            seen[key] = current_domain.name
            barrier.wait()

    threads = [
        threading.Thread(target=work, args=(first, "first")),
        threading.Thread(target=work, args=(second, "second")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"first": first.name, "second": second.name}


def test_a_new_thread_starts_without_the_callers_domain(make_domain):
    domain = make_domain()
    seen = []
    with domain.domain_context():
        thread = threading.Thread(target=lambda: seen.append(bool(current_domain)))
        thread.start()
        thread.join()
    assert seen == [False]


def test_asyncio_tasks_keep_their_own_domain(make_domain):
    first, second = make_domain(), make_domain()

    async def work(domain):
        with domain.domain_context():
            await asyncio.sleep(0.01)
            return current_domain.name

    async def main():
        return await asyncio.gather(work(first), work(second))

    assert asyncio.run(main()) == [first.name, second.name]


def test_current_domain_forwards_every_attribute_and_keeps_its_own(make_domain):
    # private and missing attributes too; the proxy's internals and dunders stay its own
    domain = make_domain()
    assert getattr(current_domain, "anything", "default") == "default"
    with domain.domain_context():
        assert current_domain._repositories is domain._repositories
        assert current_domain.repository_for == domain.repository_for
        assert getattr(current_domain, "no_such_thing", "default") == "default"
        with pytest.raises(AttributeError, match="no_such_thing"):
            current_domain.no_such_thing  # noqa: B018
        assert type(current_domain).__name__ == "_DomainProxy"
        assert current_domain.__class__ is type(current_domain)
        assert "Domain" in repr(current_domain)
    with pytest.raises(IncorrectUsageError, match="domain_context"):
        current_domain._repositories  # noqa: B018


def test_the_scope_fields_read_set_and_reset_as_context_variables(make_domain):
    # stack, uow_var, current_message and dispatch_queue share one context variable:
    # setting one keeps the others, and a reset restores what the set replaced
    from archipel.utils.globals import current_message, dispatch_queue, stack, uow_var

    domain = make_domain()
    with domain.domain_context():
        assert stack.get() == (domain,)
        assert uow_var.get() is None and current_message.get() is None and dispatch_queue.get() is None
        uow_token = uow_var.set("the uow")
        message_token = current_message.set("the message")
        assert (stack.get(), uow_var.get(), current_message.get()) == ((domain,), "the uow", "the message")
        current_message.reset(message_token)
        assert (uow_var.get(), current_message.get()) == ("the uow", None)
        uow_var.reset(uow_token)
        assert uow_var.get() is None and stack.get() == (domain,)
    assert stack.get() == ()


def test_asyncio_tasks_keep_their_own_unit_of_work(make_domain):
    from archipel import UnitOfWork
    from archipel.utils.globals import current_uow

    domain = make_domain()

    async def work() -> bool:
        with domain.domain_context(), UnitOfWork() as uow:
            await asyncio.sleep(0.01)  # the other task enters its own meanwhile
            return current_uow == uow and uow.in_progress

    async def main() -> list[bool]:
        return list(await asyncio.gather(work(), work()))

    assert asyncio.run(main()) == [True, True]
    assert not current_uow


def test_threads_keep_their_own_unit_of_work(make_domain):
    from archipel import UnitOfWork
    from archipel.utils.globals import current_uow

    domain = make_domain()
    entered = threading.Barrier(2)
    seen: list[bool] = []

    def work() -> None:
        with domain.domain_context(), UnitOfWork() as uow:
            entered.wait(timeout=10)  # both are inside their blocks now
            seen.append(current_uow == uow)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [True, True]
