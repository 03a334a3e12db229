"""Generated ``__init__`` and ``to_dict``: the same outcome as the generic ones for any input.

Element classes get an ``__init__`` with one keyword parameter per field and
a ``to_dict`` written for their fields (``archipel.core._codegen``); the
generic :class:`BaseModel` methods define the behaviour. Whatever a caller
passes (valid, invalid, unknown, ``None``, templates), both give the same
object or the same :class:`ValidationError`.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from archipel import BaseAggregate, BaseCommand, BaseEvent
from archipel.core.model import BaseModel
from archipel.errors import IncorrectUsageError, ValidationError
from archipel.fields import Float, Identifier, Integer, List, String


class Account(BaseAggregate):
    owner = String(max_length=8, required=True)
    balance = Integer(default=0)
    tags = List(content_type=String, default=list)
    rate = Float()


class Open(BaseCommand):
    owner = String(max_length=8, required=True)


class Opened(BaseEvent):
    account_id = Identifier(required=True)
    owner = String(max_length=8)


#: field names the generated code must not confuse with its own locals
class Awkward(BaseCommand):
    errors = String()
    values = Integer()
    raw = String(default="r")


_values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=12),
    st.floats(allow_nan=False),
    st.lists(st.text(max_size=3), max_size=3),
    st.booleans(),
)
_names = st.sampled_from(["owner", "balance", "tags", "rate", "account_id", "errors", "values", "raw", "other"])
_kwargs = st.dictionaries(_names, _values, max_size=5)


def _outcome(cls: type, build: Any) -> Any:
    try:
        obj = build()
    except (ValidationError, IncorrectUsageError) as exc:
        return type(exc).__name__, getattr(exc, "messages", str(exc))
    data = BaseModel.to_dict(obj)
    assert obj.to_dict() == data  # the generated to_dict agrees with the generic one
    data.pop("id", None)  # a fresh identity each time
    return data


def _generic(cls: type, *templates: Any, **kwargs: Any) -> Any:
    obj = cls.__new__(cls)
    BaseModel.__init__(obj, *templates, **kwargs)
    return obj


@settings(max_examples=300, deadline=None)
@given(cls=st.sampled_from([Account, Open, Opened, Awkward]), kwargs=_kwargs)
def test_the_generated_init_builds_what_the_generic_one_builds(cls: type, kwargs: dict[str, Any]) -> None:
    assert cls.__init__ is not BaseModel.__init__  # type: ignore[misc]
    assert _outcome(cls, lambda: cls(**kwargs)) == _outcome(cls, lambda: _generic(cls, **kwargs))


@settings(max_examples=150, deadline=None)
@given(
    cls=st.sampled_from([Account, Open, Awkward]),
    template=st.one_of(_kwargs, st.lists(st.integers(), max_size=2)),
    kwargs=_kwargs,
)
def test_templates_merge_as_in_the_generic_init(cls: type, template: Any, kwargs: dict[str, Any]) -> None:
    assert _outcome(cls, lambda: cls(template, **kwargs)) == _outcome(
        cls, lambda: _generic(cls, template, **kwargs)
    )


def test_a_field_named_like_the_generated_codes_locals_keeps_its_value() -> None:
    command = Awkward(errors="e", values=3)
    assert (command.errors, command.values, command.raw) == ("e", 3, "r")
    assert command.to_dict() == {"errors": "e", "values": 3, "raw": "r"}
