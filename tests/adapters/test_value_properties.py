"""Property-based tests of the value contract (hypothesis), on every store.

1. Any input to any field either raises ValidationError naming that field when
   the object is built, or is read back from the store exactly (type, digits,
   exponent, bits, offset).
2. The same filter and order return the same rows on memory, SQLite and
   PostgreSQL.

Example counts are bounded (``ARCHIPEL_HYPOTHESIS_EXAMPLES``, default 60) so
the suite stays fast in CI; raise it for a longer hunt.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from archipel import Domain, Q
from archipel.errors import ValidationError
from tests.adapters._holder import FIELDS, define_holder, differences
from tests.adapters.conftest import start, storage_config

EXAMPLES = int(os.environ.get("ARCHIPEL_HYPOTHESIS_EXAMPLES", "60"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- any input --------------------------------------------------------------------------

# every code point, NUL and lone surrogates included
ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=8)
OFFSETS = st.builds(
    dt.timezone,
    st.timedeltas(min_value=dt.timedelta(hours=-23, minutes=-59), max_value=dt.timedelta(hours=23, minutes=59)),
)
ODD_NUMBERS = st.sampled_from(
    [
        2**63,
        -(2**63) - 1,
        2**63 - 1,
        2**64,
        10**400,
        "1E+1000000",
        "1E-999999",
        "sNaN",
        "NaN",
        "-Infinity",
        "1E+2",
        "-0.00",
        "1.10",
        "0.1000000000000000000001",
        "12345678901234567890.12",
        "1.5",
        1e400,
        -0.0,
        5e-324,
        1e16,
    ]
)
# an int whose str() raises (beyond Python's 4300-digit limit), built lazily: not even repr works
ODD_NUMBERS = ODD_NUMBERS | st.builds(pow, st.just(10), st.just(5000))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    ANY_TEXT,
    ODD_NUMBERS,
    st.dates(),
    st.datetimes(timezones=st.none() | OFFSETS),
    st.uuids(),
    st.binary(max_size=4),
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.one_of(ANY_TEXT, st.integers(-2, 2)), inner, max_size=3),
    max_leaves=6,
)
# per field: values of its own type (odd ones included) half the time, anything else otherwise
OWN_TYPE: dict[str, Any] = {
    "name": ANY_TEXT,
    "text": ANY_TEXT,
    "ref": ANY_TEXT | st.uuids() | st.integers(),
    "count": st.integers() | ODD_NUMBERS | st.floats() | st.decimals(),
    "big": st.integers() | ODD_NUMBERS,
    "ratio": st.floats() | ODD_NUMBERS,
    "wild": st.floats() | ODD_NUMBERS,
    "amount": st.decimals() | ODD_NUMBERS | st.floats(),
    "price": st.decimals(places=2) | ODD_NUMBERS,
    "odd": st.decimals() | ODD_NUMBERS,
    "flag": st.booleans(),
    "day": st.dates(),
    "at": st.datetimes(timezones=st.none() | OFFSETS),
    "amounts": st.lists(st.decimals() | ODD_NUMBERS, max_size=3),
    "days": st.lists(st.dates(), max_size=3),
    "moments": st.lists(st.datetimes(timezones=st.none() | OFFSETS), max_size=3),
    "items": st.lists(JSONISH, max_size=3),
    "data": st.dictionaries(ANY_TEXT, JSONISH, max_size=3),
    "spot": st.fixed_dictionaries(
        {},
        optional={
            "level": st.floats() | ODD_NUMBERS,
            "amount": st.decimals() | ODD_NUMBERS,
            "at": st.datetimes(timezones=st.none() | OFFSETS),
            "big": st.integers() | ODD_NUMBERS,
        },
    ),
}
#: one field and a value for it: of the field's own type two times in three
ANY_VALUE = st.sampled_from(FIELDS).flatmap(
    lambda name: st.tuples(st.just(name), OWN_TYPE[name] | OWN_TYPE[name] | JSONISH)
)


@pytest.fixture
def holders(make_domain: Any) -> Any:
    domain = make_domain()
    holder = define_holder(domain)
    start(domain)
    with domain.domain_context():
        yield domain.repository_for(holder), holder


@SETTINGS
@given(field_value=ANY_VALUE)
def test_any_value_is_refused_at_build_or_read_back_exactly(holders, field_value):
    repo, holder = holders
    field, value = field_value
    try:
        built = holder(key=uuid.uuid4().hex, **{field: value})
    except ValidationError as error:
        assert list(error.messages) == [field]
        event("refused at build")
        return
    repo.add(built)
    assert differences(built, repo.get(built.key)) == {}
    event("read back exactly")


# --- the same rows on every store -------------------------------------------------------

NAMES = st.text(alphabet="aAbéÉßẞσΣς%_!", max_size=4)
DECIMALS = st.sampled_from(["1.10", "1.1", "0", "-0.00", "1E-7", "100", "9.99", "-3"]) | st.decimals(
    allow_nan=False, allow_infinity=False, places=3, min_value=-1000, max_value=1000
)
ITEMS = st.one_of(
    st.integers(-2, 2),
    st.sampled_from([1.0, True, False, "a", "A"]),
    st.lists(st.integers(0, 1), max_size=2),
)
AMOUNT_ITEMS = st.sampled_from(["1.10", "1.1", "2"])
ROW_VALUES: dict[str, Any] = {
        "name": NAMES,
        "text": NAMES,
        "ref": NAMES,
        "count": st.integers(-3, 3) | st.sampled_from([2**63 - 1, -(2**63)]),
        "big": st.integers(-(10**25), 10**25) | st.integers(-3, 3),
        "ratio": st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([-0.0, 1.5, 2.0]),
        "wild": st.floats() | st.sampled_from([float("nan"), 1.5]),
        "amount": DECIMALS,
        "price": st.sampled_from(["1.10", "1.1", "0.00", "9.99", "-2", "1E+2"]),
        "odd": DECIMALS | st.sampled_from(["NaN", "Infinity", "-Infinity"]),
        "flag": st.booleans(),
        "day": st.dates(min_value=dt.date(1999, 12, 30), max_value=dt.date(2000, 1, 2)),
        "at": st.datetimes(
            min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2000, 1, 2), timezones=OFFSETS
        ),
        "items": st.lists(ITEMS, max_size=3),
        "amounts": st.lists(AMOUNT_ITEMS, max_size=2),
        "data": st.dictionaries(
            st.sampled_from(["a", "b"]), st.integers(-1, 1) | st.sampled_from([1.0, True, None, "x"])
        ),
}
ROW = st.fixed_dictionaries({}, optional=ROW_VALUES)
TEXT_FIELDS = ("name", "text", "ref")
ORDERED_FIELDS = ("name", "text", "ref", "count", "big", "ratio", "wild", "amount", "price", "odd", "flag", "day", "at")
COMPARISONS = ("exact", "gt", "gte", "lt", "lte", "isnull", "in")
NUMBER_LOOKUPS = (*COMPARISONS, "contains", "icontains", "startswith", "endswith")
TEXT_LOOKUPS = ("exact", "iexact", "contains", "icontains", "startswith", "endswith", "gt", "lt", "in", "isnull")


@st.composite
def criteria(draw: Any, rows: list[dict[str, Any]]) -> tuple[str, Any]:
    """A ``field__lookup`` and a value: often one of the rows' values, else a fresh one."""
    field = draw(st.sampled_from([*ORDERED_FIELDS, "items", "amounts", "data"]))
    if field in ("items", "amounts", "data"):
        lookup = draw(st.sampled_from(["contains", "isnull", "exact", "in"]))
        whole = st.sampled_from([row[field] for row in rows if field in row] or [[]])
        whole = whole | ROW_VALUES[field]
        if lookup == "isnull":
            return f"{field}__isnull", draw(st.booleans())
        if lookup == "in":
            return f"{field}__in", draw(st.lists(whole | st.none(), max_size=3))
        if lookup == "exact":
            return f"{field}__exact", draw(whole)
        item = {"items": ITEMS, "amounts": AMOUNT_ITEMS, "data": st.just("a")}[field]
        return f"{field}__contains", draw(item)
    lookup = draw(st.sampled_from(TEXT_LOOKUPS if field in TEXT_FIELDS else NUMBER_LOOKUPS))
    if lookup == "isnull":
        return f"{field}__isnull", draw(st.booleans())
    if field not in TEXT_FIELDS and lookup in TEXT_LOOKUPS:
        # text lookups on numbers and dates: allowed where every store shares the text
        return f"{field}__{lookup}", draw(st.text("0123456789-.:eE", max_size=3))
    seen = [row[field] for row in rows if field in row]
    fresh = ROW_VALUES[field]
    one = st.sampled_from(seen) | fresh if seen else fresh
    if lookup == "in":
        return f"{field}__in", draw(st.lists(one | st.none(), max_size=3))
    return f"{field}__{lookup}", draw(one)


@pytest.fixture
def every_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    domains = []
    for provider in ("memory", "sqlite", "postgresql"):
        domain = Domain(name=f"A{uuid.uuid4().hex[:8]}", config=storage_config(provider, request, tmp_path))
        holder = define_holder(domain)
        start(domain)
        domains.append((domain, holder))
    yield domains
    for domain, _ in domains:
        domain.shutdown()


def _rows_on(domain: Domain, holder: type, prefix: str, rows: list[dict[str, Any]]) -> None:
    with domain.domain_context():
        repo = domain.repository_for(holder)
        for index, row in enumerate(rows):
            repo.add(holder(key=f"{prefix}{index:02d}", **row))


def _found(domain: Domain, holder: type, prefix: str, key: str, value: Any, order: str) -> Any:
    with domain.domain_context():
        repo = domain.repository_for(holder)
        try:
            found = repo.query.filter(Q(key__startswith=prefix) & Q(**{key: value}))
            return [h.key for h in found.order_by(order).all()]
        except ValidationError as error:
            return ("ValidationError", sorted(error.messages))


@pytest.mark.postgres
@SETTINGS
@given(data=st.data(), rows=st.lists(ROW, min_size=1, max_size=5))
def test_queries_return_the_same_rows_on_every_store(every_store, data, rows):
    _, holder = every_store[0]
    try:
        for row in rows:
            holder(key="probe", **row)
    except ValidationError:
        event("a row no store takes")
        return  # e.g. a date-time past year 9999 in UTC
    key, value = data.draw(criteria(rows))
    order = data.draw(st.sampled_from(ORDERED_FIELDS))
    order = data.draw(st.sampled_from([order, f"-{order}"]))
    prefix = uuid.uuid4().hex[:12]
    results = []
    for domain, cls in every_store:
        _rows_on(domain, cls, prefix, rows)
        results.append(_found(domain, cls, prefix, key, value, order))
    assert results[0] == results[1] == results[2], (key, value, order, results)
    event("refused on every store" if isinstance(results[0], tuple) else "same rows")
    event(f"lookup {key.partition('__')[2]}")

