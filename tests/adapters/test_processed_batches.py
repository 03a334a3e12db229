"""A batch's processed-message records (more than one statement's worth of writes: the
engine's batches): a twin committed meanwhile fails the whole batch, named."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archipel.errors import DuplicateMessageError
from tests.adapters._model import define
from tests.adapters.conftest import SQL_PROVIDERS, start


@pytest.fixture
def database(make_domain):
    domain = make_domain()
    define(domain)
    start(domain)
    with domain.domain_context():
        yield domain.providers.database()


@pytest.mark.parametrize("provider", SQL_PROVIDERS, indirect=True)
def test_a_large_batch_racing_a_twin_fails_whole_and_names_the_twin(database):
    """Property: whichever records of a batch (one subscription or two) a twin committed
    first, the batch's commit fails naming one of them, and none of the batch's records
    is kept."""
    made = iter(range(10**9))

    @settings(max_examples=25, deadline=None)
    @given(size=st.integers(20, 80), twins=st.sets(st.integers(0, 79), min_size=1, max_size=3),
           two_subscriptions=st.booleans())
    def check(size: int, twins: set[int], two_subscriptions: bool) -> None:
        run = next(made)
        keys = [("sub-b" if two_subscriptions and i % 2 else "sub-a", f"r{run}-m{i}") for i in range(size)]
        picked = sorted(i for i in twins if i < size) or [size // 2]
        batch, twin = database.begin(), database.begin()
        for subscription in ("sub-a", "sub-b"):
            ids = [m for s, m in keys if s == subscription]
            if ids:
                assert batch.mark_processed_many(subscription, ids) == [True] * len(ids)
        for i in picked:
            assert twin.mark_processed(*keys[i]) is True
        twin.commit()
        with pytest.raises(DuplicateMessageError) as failed:
            batch.commit()
        assert any(f"{keys[i][0]} already handled message {keys[i][1]}:" in str(failed.value) for i in picked)
        after = database.begin()
        for subscription in ("sub-a", "sub-b"):
            ids = [m for s, m in keys if s == subscription]
            recorded = {m for i, (s, m) in enumerate(keys) if i in picked and s == subscription}
            if ids:
                assert after.mark_processed_many(subscription, ids) == [m not in recorded for m in ids]
        after.rollback()

    check()
