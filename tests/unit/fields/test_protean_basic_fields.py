"""``archipel.fields.basic`` (Protean's ``protean.fields.basic``): ``ValueObjectList`` and the
deprecated serializer fields ``Method`` and ``Nested``, which no element takes."""

from __future__ import annotations

import datetime as dt

import pytest

from archipel import BaseAggregate, BaseEvent, BaseValueObject
from archipel.errors import ConfigurationError, ValidationError
from archipel.fields import Integer, Method, Nested, String, ValueObject, ValueObjectList, basic


class Tag(BaseValueObject):
    name = String(max_length=10)


class Note(BaseAggregate):
    tags = ValueObjectList(content_type=str)
    days = ValueObjectList(content_type=dt.date)
    labels = ValueObjectList(content_type=ValueObject(Tag))


def test_value_object_list_cleans_its_items_by_content_type():
    note = Note(tags=["a", 1], days=["2024-01-02"], labels=[{"name": "x"}, Tag(name="y")])
    assert note.tags == ["a", "1"]
    assert note.days == [dt.date(2024, 1, 2)]
    assert [label.name for label in note.labels] == ["x", "y"]
    assert Note().tags == []
    assert Note._fields["tags"].content_type is str  # as declared (Protean's attribute)
    with pytest.raises(ValidationError, match="tags"):
        Note(tags="not a list")
    with pytest.raises(ValidationError, match="labels"):
        Note(labels=[{"name": "far too long a name"}])
    back = Note._from_primitive(note.to_dict())
    assert back.days == note.days and back.labels == note.labels


@pytest.mark.parametrize("content_type", [list, set, object, "str"])
def test_value_object_list_refuses_other_content_types(content_type):
    with pytest.raises(ValidationError) as caught:
        ValueObjectList(content_type=content_type)
    assert caught.value.messages == {"content_type": ["Content type not supported"]}


def test_serializer_fields_build_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="Method"):
        method = Method("get_total", required=True)
    with pytest.warns(DeprecationWarning, match="Nested"):
        nested = Nested("LineSchema", many=True)
    assert method.method_name == "get_total" and method.options == {"required": True}
    assert (nested.schema_name, nested.many) == ("LineSchema", True)
    assert basic.Method is Method and basic.String is String  # Protean's module path


@pytest.mark.parametrize("base", [BaseAggregate, BaseValueObject, BaseEvent])
def test_no_element_takes_a_serializer_field(base):
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigurationError, match="Thing.total.*serializer"):
        type("Thing", (base,), {"total": Method("get_total"), "__module__": __name__})


def test_pickled_lists_warn_that_it_has_no_effect():
    with pytest.warns(DeprecationWarning, match="pickled"):
        ValueObjectList(content_type=str, pickled=True)


def test_protean_s_validators_report_under_the_field():
    from archipel.fields.validators import (
        MaxLengthValidator,
        MaxValueValidator,
        MinLengthValidator,
        MinValueValidator,
        RegexValidator,
    )

    class Code(BaseValueObject):
        text = String(validators=[RegexValidator(r"^\d+$", message="digits only"), MinLengthValidator(2)])
        tag = String(validators=[MaxLengthValidator(3), RegexValidator("x", inverse_match=True)])
        size = Integer(validators=[MinValueValidator(3), MaxValueValidator(9)])

    assert Code(text="12", tag="ab", size=5).text == "12"
    with pytest.raises(ValidationError) as caught:
        Code(text="a", tag="xyzw", size=10)
    assert caught.value.messages == {
        "text": ["digits only"],
        "tag": ["value has more than 3 characters"],
        "size": ["value is greater than 9"],
    }
    assert errors(lambda: Code(text="1")) == {"text": ["value has less than 2 characters"]}
    assert errors(lambda: Code(tag="x")) == {"tag": ["invalid value"]}
    assert errors(lambda: Code(size=1)) == {"size": ["value is lesser than 3"]}
    with pytest.raises(TypeError):
        RegexValidator(__import__("re").compile("a"), flags=2)


def errors(build):
    with pytest.raises(ValidationError) as caught:
        build()
    return caught.value.messages
