"""Generated constructors behave exactly as the generic one, for any arguments.

Every element class gets an ``__init__`` written for its fields (keyword
parameters, cleaners' checks inlined); what a user sees — values kept,
defaults, the ValidationError naming every failing field, unknown names,
templates — must be what the generic ``BaseModel.__init__`` gives.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseEvent, BaseProjection
from archipel.core.model import BaseModel
from archipel.errors import ValidationError
from archipel.fields import Boolean, Float, Identifier, Integer, String, Text
from archipel.fields.base import accepting


class Row(BaseProjection):
    book_id = Identifier(identifier=True)
    title = String(max_length=5)
    body = Text()
    count = Integer(min_value=0, max_value=10)
    flag = Boolean(default=False)
    ratio = Float(min_value=0.5)
    price = Float()
    type = String(required=True)  # a field named like a builtin the checks use
    kwargs = Integer()  # and like the generated code's own names


class Placed(BaseEvent):
    order_id = Identifier()
    total = Integer()


class Order(BaseAggregate):
    name = String(max_length=3, default="abc")
    lines = Integer(default=0)


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["ab", "abcdef", "a\x00b", "é", "\ud800", "12", "1.5", "true"]),
    st.lists(st.integers(), max_size=2),
)
names = st.sampled_from(["book_id", "title", "body", "count", "flag", "ratio", "price", "type", "kwargs",
                         "unknown", "_metadata"])


def outcome(make: Any) -> tuple[str, Any]:
    try:
        obj = make()
    except ValidationError as exc:
        return "error", exc.messages
    return "ok", {name: obj.__dict__.get(name) for name in type(obj)._fields}


def generic(cls: type, *templates: Any, **kwargs: Any) -> Any:
    obj = cls.__new__(cls)
    BaseModel.__init__(obj, *templates, **kwargs)
    return obj


@settings(max_examples=300, deadline=None)
@given(kwargs=st.dictionaries(names, values, max_size=6),
       template=st.none() | st.dictionaries(names, values, max_size=3))
def test_a_projection_gets_what_the_generic_constructor_gives(kwargs: dict[str, Any],
                                                             template: dict[str, Any] | None) -> None:
    templates = () if template is None else (template,)
    generated = outcome(lambda: Row(*templates, **kwargs))
    expected = outcome(lambda: generic(Row, *templates, **kwargs))
    assert generated == expected


def test_the_classes_compared_have_generated_constructors() -> None:
    for cls in (Row, Placed, Order):
        assert getattr(cls.__init__, "_archipel_generated", False), cls


@settings(max_examples=100, deadline=None)
@given(kwargs=st.dictionaries(st.sampled_from(["order_id", "total", "name", "lines", "other"]), values, max_size=4))
def test_events_and_aggregates_get_what_the_generic_constructor_gives(kwargs: dict[str, Any]) -> None:
    event_kwargs = {k: v for k, v in kwargs.items() if k in ("order_id", "total", "other")}
    assert outcome(lambda: Placed(**event_kwargs)) == outcome(lambda: generic(Placed, **event_kwargs))
    order_kwargs = {k: v for k, v in kwargs.items() if k in ("name", "lines", "other")}
    made = outcome(lambda: Order(**order_kwargs))
    if made[0] == "ok":
        made[1].pop("id")
    expected = outcome(lambda: generic(Order, **order_kwargs))
    if expected[0] == "ok":
        expected[1].pop("id")
    assert made == expected


def test_a_value_a_field_cannot_hold_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        Row(book_id="b1", title="too long for five", count=11, type="t")
    assert set(caught.value.messages) == {"title", "count"}


@pytest.mark.parametrize("given", ["x" * 256, "a\x00b", 3.5, ["o1"]])
def test_a_given_identity_is_checked_as_the_generic_constructor_checks_it(given: Any) -> None:
    # the made identity is not checked again (every one has the shape the check accepts);
    # a given one still is
    assert outcome(lambda: Order(id=given)) == outcome(lambda: generic(Order, id=given))
    assert outcome(lambda: Order(id=given))[0] != "ok"


def test_a_made_identity_is_one_the_field_accepts() -> None:
    made = Order().id
    assert generic(Order, id=made).id == made and len(made) == 36


def test_a_constructed_event_still_gets_its_envelope() -> None:
    event = Placed(order_id="o1", total=3)
    assert event._metadata.kind == "EVENT"


def test_a_condition_naming_anything_else_is_not_inlined() -> None:
    from archipel.core._codegen import _inline

    clean = accepting("type(v) is int and v < 3", int)
    assert clean(2) == 2 and clean("7") == 7
    assert _inline(clean, "x") == "_ar_type(x) is _ar_int and x < 3"
    clean.condition = "type(v) is int and v < limit"  # type: ignore[attr-defined]
    assert _inline(clean, "x") is None  # the generated code calls the cleaner instead


def test_an_inlined_after_init_leaves_what_the_generic_constructor_leaves() -> None:
    # aggregates and messages get their hook's work written into the generated __init__
    order, event = Order(name="abc"), Placed(order_id="o1", total=3)
    expected_order = generic(Order, id=order.id, name="abc")
    assert list(order.__dict__) == list(expected_order.__dict__)
    assert {k: v for k, v in order.__dict__.items() if k != "_metadata"} == expected_order.__dict__
    expected_event = generic(Placed, order_id="o1", total=3)
    assert list(event.__dict__) == list(expected_event.__dict__)
    assert event._metadata.to_dict() == expected_event._metadata.to_dict()
    assert event._metadata is not Placed(order_id="o1", total=3)._metadata  # one envelope each


def test_an_overridden_after_init_is_still_called() -> None:
    class Audited(BaseAggregate):
        name = String()

        def _after_init(self) -> None:
            super()._after_init()
            self.__dict__["_audited"] = True

    class Noted(BaseEvent):
        text = String()

        def _after_init(self) -> None:
            super()._after_init()
            self.__dict__["_noted"] = True

    assert getattr(Audited.__init__, "_archipel_generated", False)
    assert Audited(name="a").__dict__["_audited"] is True
    assert Noted(text="t").__dict__["_noted"] is True and Noted(text="t")._metadata.kind == "EVENT"


def test_a_generated_init_keeps_what_the_instance_held_before_it_ran() -> None:
    # a subclass's own __init__ may set attributes before calling the generated one
    class Noted(Order):
        def __init__(self, **kwargs: Any) -> None:
            self.__dict__["_note"] = "kept"
            Order.__init__(self, **kwargs)

    assert getattr(Order.__init__, "_archipel_generated", False)
    noted = Noted(name="ab")
    assert noted.__dict__["_note"] == "kept" and noted.name == "ab" and noted.__dict__["_version"] == -1
    assert list(noted.__dict__)[0] == "_note"


class Named(BaseAggregate):
    label = String(max_length=4, required=True)
    code = Identifier()


def named_outcome(make: Any) -> tuple[str, Any]:
    """``outcome`` without the aggregate's made identity (each construction makes its own)."""
    result = outcome(make)
    if result[0] == "ok":
        result[1].pop("id")
    return result


def test_a_text_accepted_once_is_not_checked_again_and_nothing_else_skips_the_check() -> None:
    # a check remembers the last text it accepted: the same object passes without the check
    # (what usually flows from a command to its aggregate, event and projection)
    label = "".join(["a", "b"])  # a fresh object
    assert Named(label=label).label is label
    assert Row(title=label, type="t").title is label  # the same check (max 4 / 5 differ: its own memo)
    assert Named(label=label).label is label
    # a missing, None or failing value after it is still refused, as the generic constructor does
    for kwargs in ({}, {"label": None}, {"label": "abcde"}, {"label": "a\x00"}, {"label": [label]}):
        made = named_outcome(lambda kwargs=kwargs: Named(**kwargs))
        assert made == named_outcome(lambda kwargs=kwargs: generic(Named, **kwargs))
        assert made[0] == "error"
    assert Named(label=label, code=None).code is None  # not required: None is kept


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["ab", "a\x00", "\ud800", "abcde"])),
                      max_size=6),
       repeat=st.lists(st.integers(min_value=0, max_value=5), max_size=6))
def test_texts_given_again_in_any_order_get_what_the_generic_constructor_gives(
    texts: list[Any], repeat: list[int]
) -> None:
    # the same objects passed again (a memo hit for the last accepted one) and others between
    sequence = texts + [texts[i] for i in repeat if i < len(texts)]
    for text in sequence:
        for kwargs in ({"label": text}, {"label": "ok", "code": text}, {"code": text}):
            made = named_outcome(lambda kwargs=kwargs: Named(**kwargs))
            assert made == named_outcome(lambda kwargs=kwargs: generic(Named, **kwargs))
