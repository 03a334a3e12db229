"""Trusted stored envelopes: ``Metadata.adopt`` and the bulk reader's typed decoding.

A replay takes over the dicts it decoded instead of copying them; the
envelope must read exactly as :meth:`Metadata.from_dict` of the same stored
form, and a batch whose times are not ISO 8601 text still decodes.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from archipel.adapters.sql.bulk import _decode
from archipel.core.message import Metadata

texts = st.none() | st.text(max_size=12)
times = st.none() | st.datetimes(timezones=st.none() | st.timezones()).map(lambda t: t.isoformat())
envelopes = st.fixed_dictionaries(
    {"id": texts, "type": texts, "kind": st.sampled_from(["EVENT", "COMMAND"]), "stream": texts,
     "time": times, "version": st.integers(1, 5), "position": st.none() | st.integers(0, 99),
     "global_position": st.none() | st.integers(1, 99), "correlation_id": texts, "causation_id": texts,
     "domain": texts, "priority": st.integers(-5, 5), "asynchronous": st.booleans()},
    optional={"headers": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
              "extensions": st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)},
)


def _same(a: Metadata, b: Metadata) -> None:
    assert a.to_dict() == b.to_dict()
    assert a.time == b.time and type(a.time) is type(b.time)
    assert a.headers == b.headers and a.extensions == b.extensions


@given(envelopes)
def test_an_adopted_envelope_reads_as_from_dict_gives_it(stored: dict[str, Any]) -> None:
    expected = Metadata.from_dict(json.loads(json.dumps(stored)))
    _same(Metadata.adopt(json.loads(json.dumps(stored))), expected)


@given(envelopes, st.dictionaries(st.sampled_from(["x", "legacy", "trace"]), st.integers(), max_size=2))
def test_a_decoded_batch_gives_envelopes_as_from_dict_does(stored: dict[str, Any], extra: dict[str, Any]) -> None:
    # unknown keys are dropped, times parsed: an adopted envelope is the ordinary one
    text = json.dumps([[7, 3, {**stored, **extra}, {"a": 1}]])
    ((position, index, meta, data),) = _decode(text)
    assert (position, index, data) == (7, 3, {"a": 1})
    assert not meta.keys() - set(stored)
    _same(Metadata.adopt(meta), Metadata.from_dict(stored))


def test_a_batch_with_a_time_that_is_no_iso_text_still_decodes_as_stored() -> None:
    now = dt.datetime.now(dt.UTC).isoformat()
    text = json.dumps([[1, 0, {"id": "a", "time": now, "legacy": 1}, {}],
                       [2, 0, {"id": "b", "time": 1700000000, "legacy": 2}, {}]])
    rows = _decode(text)
    assert [row[2] for row in rows] == [{"id": "a", "time": now}, {"id": "b", "time": 1700000000}]
    assert Metadata.adopt(rows[0][2]).time == dt.datetime.fromisoformat(now)
