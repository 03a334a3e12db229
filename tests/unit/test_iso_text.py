"""The envelope's stored ``time`` is ``datetime.isoformat()``'s text, whichever way it is made.

``Metadata.to_dict`` formats a UTC time from msgspec's RFC 3339 text (``Z`` turned into
``+00:00``) because ``isoformat`` costs five times as much; these properties hold the
two texts equal for every UTC datetime, and other times (naive, other offsets, other
UTC objects, datetime subclasses) still go through ``isoformat`` itself.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from archipel.core.message import Metadata, iso_text

utc_times = st.datetimes(timezones=st.just(dt.UTC))
other_times = st.one_of(
    st.datetimes(),  # naive
    st.datetimes(timezones=st.builds(dt.timezone, st.timedeltas(min_value=dt.timedelta(hours=-23), max_value=dt.timedelta(hours=23)))),
)


class Moment(dt.datetime):
    def isoformat(self, *args: object, **kwargs: object) -> str:
        return "subclass"


@given(utc_times)
def test_a_utc_time_reads_as_its_isoformat(time):
    assert iso_text(time) == time.isoformat()
    stored = Metadata(id="m", time=time).to_dict()["time"]
    assert stored == time.isoformat()
    assert dt.datetime.fromisoformat(stored) == time


@given(other_times)
def test_any_other_time_is_its_isoformat(time):
    assert iso_text(time) == time.isoformat()
    assert Metadata(id="m", time=time).to_dict()["time"] == time.isoformat()


@given(st.sampled_from([0, 1, 10, 999_999, 500_000]), st.integers(min_value=1, max_value=9999))
def test_the_fraction_and_the_year_keep_their_width(microsecond, year):
    time = dt.datetime(year, 1, 2, 3, 4, 5, microsecond, tzinfo=dt.UTC)
    assert Metadata(id="m", time=time).to_dict()["time"] == time.isoformat()


def test_a_datetime_subclass_and_a_utc_offset_other_than_utc_use_isoformat():
    moment = Moment(2026, 1, 2, tzinfo=dt.UTC)
    assert iso_text(moment) == "subclass"
    assert Metadata(id="m", time=moment).to_dict()["time"] == "subclass"
    zero = dt.datetime(2026, 1, 2, tzinfo=dt.timezone(dt.timedelta(0), "Z0"))
    assert Metadata(id="m", time=zero).to_dict()["time"] == zero.isoformat() == "2026-01-02T00:00:00+00:00"
    assert Metadata(id="m").to_dict()["time"] is None
