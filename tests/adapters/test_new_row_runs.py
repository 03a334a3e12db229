"""Rows saved together (one multi-row statement; PostgreSQL: ``unnest`` of binary column arrays)
read back exactly as rows saved one at a time."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.adapters.conftest import start

#: text a text-format array literal must quote or escape: quotes, backslashes, braces, commas,
#: blanks, the word NULL, the empty string (PostgreSQL's arrays now travel in binary)
_AWKWARD = st.sampled_from(['"', "\\", "{", "}", ",", " ", "\t", "NULL", "null", "", "é", "\u3000", "a b"])
_TEXT = st.one_of(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
                  st.lists(_AWKWARD, max_size=4).map("".join))


def test_a_run_of_new_rows_stores_every_value_as_one_row_at_a_time_does(make_domain):
    """Property: rows saved together (one multi-row statement: PostgreSQL's ``unnest`` of
    column arrays) read back exactly as each saved alone — any text, numbers, None,
    times with any UTC offset."""
    import datetime as dt

    from hypothesis import given, settings

    from archipel import BaseProjection
    from archipel.fields import DateTime, Float, Identifier, Integer, String

    domain = make_domain()

    @domain.projection
    class Row(BaseProjection):
        row_id = Identifier(identifier=True)
        name = String(max_length=60)
        count = Integer()
        ratio = Float()
        moment = DateTime()

    start(domain)
    moments = st.one_of(
        st.none(),
        st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1),
                     timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)),
                                                dt.timezone(dt.timedelta(hours=-8))])),
    )
    row = st.tuples(st.one_of(st.none(), _TEXT), st.one_of(st.none(), st.integers(-(2**62), 2**62)),
                    st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)), moments)
    made = iter(range(10**9))

    @settings(max_examples=40, deadline=None)
    @given(values=st.lists(row, min_size=2, max_size=6))
    def check(values: list[tuple]) -> None:
        together = [Row(row_id=f"t{next(made)}", name=n, count=c, ratio=r, moment=m) for n, c, r, m in values]
        alone = [Row(row_id=f"a{next(made)}", name=n, count=c, ratio=r, moment=m) for n, c, r, m in values]
        with domain.domain_context():
            repo = domain.repository_for(Row)
            domain.run_in_unit_of_work(lambda uow: [repo.add(x) for x in together])
            for x in alone:
                domain.run_in_unit_of_work(lambda uow, x=x: repo.add(x))
            for a, b in zip(together, alone, strict=True):
                got_a, got_b = repo.get(a.row_id).to_dict(), repo.get(b.row_id).to_dict()
                got_a.pop("row_id"), got_b.pop("row_id")
                assert got_a == got_b
                expected = a.to_dict()
                expected.pop("row_id")
                assert got_a == expected

    check()
