"""Redaction: the values of named fields (Protean's defaults and the given ones) become
``[REDACTED]`` at any depth, in structlog events and stdlib records, never anything else."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archipel.utils.log_filters import RedactionFilter, make_redaction_processor
from archipel.utils.logging import configure_logging, get_logger
from archipel.utils.redaction import DEFAULT_REDACT_KEYS, LOG_MASK, mask_keys, redact_keys
from tests.unit.logs.conftest import json_lines

SECRET = "s3cr3t-value"
KEYS = redact_keys(["card_number"])
# names that match (in any case) and names that do not
MATCHING = st.sampled_from(["password", "Password", "TOKEN", "api_key", "Card_Number", "session"])
HARMLESS = st.sampled_from(["id", "items", "title", "passwords_count", "tokenizer", "card"])
LEAF = st.one_of(st.integers(), st.booleans(), st.none(), st.text(alphabet="abc", max_size=4))


def tree(depth: int = 4) -> st.SearchStrategy[Any]:
    """Nested dicts, lists and tuples; every value under a matching key is SECRET or holds it."""
    return st.recursive(
        LEAF,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.lists(inner, max_size=3).map(tuple),
            st.dictionaries(HARMLESS, inner, max_size=3),
            st.dictionaries(MATCHING, st.one_of(st.just(SECRET), st.just({"inner": SECRET}), st.just([SECRET])), max_size=2).flatmap(
                lambda secrets: st.dictionaries(HARMLESS, inner, max_size=2).map(lambda rest: {**rest, **secrets})
            ),
        ),
        max_leaves=12,
    )


def check(original: Any, masked: Any) -> None:
    """``masked`` is ``original`` with exactly the matching keys' values replaced."""
    if isinstance(original, dict):
        assert isinstance(masked, dict) and list(masked) == list(original)
        for key, value in original.items():
            if key.lower() in KEYS:
                assert masked[key] == LOG_MASK
            else:
                check(value, masked[key])
    elif isinstance(original, list | tuple):
        assert type(masked) is type(original) and len(masked) == len(original)
        for a, b in zip(original, masked, strict=True):
            check(a, b)
    else:
        assert masked == original


@given(tree())
def test_mask_keys_replaces_exactly_the_matching_values_at_any_depth(value):
    snapshot = json.dumps(value, default=list, sort_keys=True)
    masked = mask_keys(value, KEYS)
    check(value, masked)
    assert SECRET not in json.dumps(masked, default=list)
    assert json.dumps(value, default=list, sort_keys=True) == snapshot  # not mutated


def holds_secret(value: Any) -> bool:
    return SECRET in json.dumps(value, default=list)


@given(tree())
def test_a_container_with_nothing_to_mask_comes_back_as_it_is(value):
    masked = mask_keys(value, KEYS)
    if isinstance(value, dict | list | tuple) and not holds_secret(value):
        assert masked is value  # the log pipeline copies nothing it does not change
    elif isinstance(value, dict | list | tuple):
        assert masked is not value


def test_other_mappings_and_sequences_come_back_as_plain_containers():
    from types import MappingProxyType

    class Items(list):
        pass

    masked = mask_keys({"a": MappingProxyType({"x": 1}), "b": Items([1, 2])}, KEYS)
    assert type(masked["a"]) is dict and masked["a"] == {"x": 1}
    assert type(masked["b"]) is list and masked["b"] == [1, 2]


def test_a_container_holding_itself_does_not_loop():
    loop: dict[str, Any] = {"password": SECRET}
    loop["self"] = loop
    masked = mask_keys(loop, KEYS)
    assert masked["password"] == LOG_MASK and masked["self"] is loop


def test_defaults_are_always_in_and_names_are_checked():
    assert set(DEFAULT_REDACT_KEYS) <= redact_keys(None) and "card_number" in KEYS
    with pytest.raises(TypeError, match="list of field names"):
        redact_keys("password")
    with pytest.raises(TypeError, match="strings"):
        redact_keys(["password", 3])  # type: ignore[list-item]


@settings(max_examples=60)
@given(fields=st.dictionaries(st.one_of(MATCHING, HARMLESS), tree(), min_size=1, max_size=4))
def test_no_secret_reaches_a_json_line_from_either_kind_of_logger(fields):
    import io

    stream = io.StringIO()
    configure_logging(format="json", redact=["card_number"])
    root = logging.getLogger()
    (console,) = root.handlers
    handler = logging.StreamHandler(stream)
    handler.setFormatter(console.formatter)
    root.handlers[:] = [handler]  # the same formatter, writing where the test reads
    fields = {k: (SECRET if k.lower() in KEYS else v) for k, v in fields.items()}
    get_logger("myapp").warning("structured", **fields)
    logging.getLogger("myapp").warning("plain", extra=fields)
    text = stream.getvalue()
    assert SECRET not in text
    structured, plain = json_lines(text)
    for line in (structured, plain):
        for key in fields:
            if key.lower() in KEYS:
                assert line[key] == LOG_MASK


def test_redaction_is_off_unless_asked(capsys):
    configure_logging(format="json")
    get_logger("myapp").warning("login", password="hunter2")
    assert json_lines(capsys.readouterr().err)[0]["password"] == "hunter2"


def test_the_filter_and_the_processor_alone():
    record = logging.LogRecord("myapp", logging.INFO, __file__, 1, "msg", (), None)
    record.Token = "t"
    record.payload = {"nested": [{"cookie": "c"}], "ok": 1}
    assert RedactionFilter().filter(record) is True
    assert record.Token == LOG_MASK and record.payload == {"nested": [{"cookie": LOG_MASK}], "ok": 1}
    assert record.msg == "msg"  # a record's own attributes are never touched

    event = make_redaction_processor(["iban"])(None, "info", {"event": "paid", "IBAN": "x", "_record": record})
    assert event == {"event": "paid", "IBAN": LOG_MASK, "_record": record}
