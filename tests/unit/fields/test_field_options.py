"""Options every field takes: required, default, identifier, unique, choices, validators.

Also the two promises of validation: one ValidationError names every failing field,
and a rejected change leaves the object as it was.
"""

from __future__ import annotations

import enum
import itertools

import pytest

from archipel import BaseAggregate, BaseValueObject
from archipel.errors import ValidationError
from archipel.fields import Dict, FieldError, Identifier, Integer, List, String


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


def must_be_even(value: int) -> None:
    if value % 2:
        raise ValueError("must be even")


def no_spaces(value: str) -> None:
    if " " in value:
        raise FieldError("must not contain spaces")


_serial = itertools.count(1)


class Widget(BaseAggregate):
    name = String(required=True)
    size = String(choices=("S", "M", "L"), default="M")
    colour = String(choices=Colour)
    count = Integer(default=0, validators=[must_be_even])
    slug = String(validators=[no_spaces])
    serial = Integer(default=lambda: next(_serial))
    tags = List(content_type=String, default=["new"])
    extra = Dict(default={"history": []})
    email = String(unique=True)


# --- required ---------------------------------------------------------------------


def test_required_field_missing_is_named_in_the_error():
    with pytest.raises(ValidationError) as info:
        Widget()
    assert info.value.messages == {"name": ["is required"]}


def test_required_field_rejects_explicit_none():
    with pytest.raises(ValidationError) as info:
        Widget(name=None)
    assert "name" in info.value.messages


def test_required_field_cannot_be_cleared_later():
    widget = Widget(name="bolt")
    with pytest.raises(ValidationError) as info:
        widget.name = None
    assert info.value.messages == {"name": ["is required"]}
    assert widget.name == "bolt"


# --- default ------------------------------------------------------------------------


def test_default_value_is_used_when_the_field_is_omitted():
    assert Widget(name="bolt").size == "M"
    assert Widget(name="bolt").count == 0


def test_given_value_wins_over_the_default():
    assert Widget(name="bolt", size="L").size == "L"


def test_callable_default_is_called_for_each_instance():
    first, second = Widget(name="a"), Widget(name="b")
    assert second.serial == first.serial + 1


def test_mutable_list_default_is_not_shared_between_instances():
    first, second = Widget(name="a"), Widget(name="b")
    first.tags.append("sale")
    assert second.tags == ["new"]
    assert Widget(name="c").tags == ["new"]


def test_nested_mutable_default_is_not_shared_between_instances():
    first, second = Widget(name="a"), Widget(name="b")
    first.extra["history"].append("created")
    assert second.extra == {"history": []}
    assert Widget(name="c").extra == {"history": []}


def test_list_without_default_starts_empty_and_unshared():
    class Box(BaseAggregate):
        items = List()

    first, second = Box(), Box()
    first.items.append(1)
    assert second.items == []


# --- identifier and unique ------------------------------------------------------------


def test_identifier_field_is_the_identity_and_is_unique():
    class Account(BaseAggregate):
        number = Identifier(identifier=True)

    field = Account._fields["number"]
    assert field.identifier and field.unique
    assert Account(number="ACC-1")._identity() == "ACC-1"


def test_unique_is_recorded_on_the_field_for_storage():
    assert Widget._fields["email"].unique is True
    assert Widget._fields["name"].unique is False


# --- choices ---------------------------------------------------------------------------


def test_choices_accept_listed_values_and_name_the_allowed_ones():
    assert Widget(name="a", size="S").size == "S"
    with pytest.raises(ValidationError) as info:
        Widget(name="a", size="XL")
    (message,) = info.value.messages["size"]
    assert "'XL'" in message and "'S'" in message and "'L'" in message


def test_enum_choices_accept_members_and_their_values_and_store_the_value():
    assert Widget(name="a", colour=Colour.RED).colour == "red"
    assert Widget(name="a", colour="green").colour == "green"
    assert Widget(name="a", colour=Colour.GREEN).to_dict()["colour"] == "green"


def test_enum_choices_reject_other_values():
    with pytest.raises(ValidationError) as info:
        Widget(name="a", colour="blue")
    assert "colour" in info.value.messages


# --- validators ------------------------------------------------------------------------


def test_validators_raising_value_error_become_field_messages():
    with pytest.raises(ValidationError) as info:
        Widget(name="a", count=3)
    assert info.value.messages == {"count": ["must be even"]}


def test_validators_raising_field_error_keep_their_message():
    with pytest.raises(ValidationError) as info:
        Widget(name="a", slug="two words")
    assert info.value.messages == {"slug": ["must not contain spaces"]}


def test_validators_run_on_assignment_too():
    widget = Widget(name="a", count=2)
    with pytest.raises(ValidationError):
        widget.count = 5
    assert widget.count == 2


def test_validators_are_not_run_for_none():
    assert Widget(name="a", slug=None).slug is None


# --- all errors at once, nothing half-applied -----------------------------------------


def test_one_error_names_every_failing_field():
    with pytest.raises(ValidationError) as info:
        Widget(size="XXL", count=3, slug="a b", unknown=1)
    assert set(info.value.messages) == {"name", "size", "count", "slug", "unknown"}
    text = str(info.value)
    for name in ("name", "size", "count", "slug", "unknown"):
        assert name in text


def test_unknown_keyword_is_reported_as_not_a_field():
    with pytest.raises(ValidationError) as info:
        Widget(name="a", colour_code="red")
    assert info.value.messages == {"colour_code": ["is not a field of Widget"]}


def test_failing_assignment_leaves_the_old_value():
    widget = Widget(name="a", size="S")
    with pytest.raises(ValidationError):
        widget.size = "XXL"
    assert widget.size == "S"
    assert widget.to_dict()["size"] == "S"


def test_value_object_with_errors_is_not_built():
    class Range(BaseValueObject):
        low = Integer(required=True)
        high = Integer(required=True)

    with pytest.raises(ValidationError) as info:
        Range(low="x")
    assert set(info.value.messages) == {"low", "high"}


def test_dict_templates_and_keywords_combine_with_keywords_winning():
    widget = Widget({"name": "from-dict", "size": "S"}, size="L")
    assert (widget.name, widget.size) == ("from-dict", "L")


# --- error_messages (Protean's field option) ------------------------------------------------


class Pet(BaseAggregate):
    name = String(required=True, max_length=5, error_messages={"required": "a pet needs a name",
                                                              "max_length": "{value} is too long"})
    legs = Integer(min_value=0, error_messages={"invalid": "legs are counted", "min_value": "no"})
    kind = String(choices=("cat", "dog"), error_messages={"invalid_choice": "cats or dogs only"})


def test_error_messages_replace_the_message_of_their_rule():
    assert errors_of_pet() == {"name": ["a pet needs a name"]}
    assert errors_of_pet(name="Rexxxxx") == {"name": ["Rexxxxx is too long"]}
    assert errors_of_pet(name="Rex", legs="four") == {"legs": ["legs are counted"]}
    assert errors_of_pet(name="Rex", legs=-1) == {"legs": ["no"]}
    assert errors_of_pet(name="Rex", kind="cow") == {"kind": ["cats or dogs only"]}
    pet = Pet(name="Rex", legs=4)
    with pytest.raises(ValidationError) as caught:
        pet.name = None
    assert caught.value.messages == {"name": ["a pet needs a name"]}


def test_rules_without_a_custom_message_keep_the_built_in_one():
    class Tag(BaseValueObject):
        label = String(min_length=2, error_messages={"required": "unused"})

    with pytest.raises(ValidationError) as caught:
        Tag(label="a")
    assert caught.value.messages == {"label": ["must be at least 2 characters long"]}


def test_unknown_error_message_keys_are_refused():
    with pytest.raises(TypeError, match="'unique'.*|error_messages takes"):
        String(error_messages={"unique": "taken"})
    with pytest.raises(TypeError, match="text"):
        String(error_messages={"required": 3})


def errors_of_pet(**values):
    with pytest.raises(ValidationError) as caught:
        Pet(**values)
    return caught.value.messages


# --- sanitize (Protean's HTML cleaning, with bleach) ---------------------------------------


def test_sanitize_cleans_html_as_protean_does():
    class Review(BaseAggregate):
        body = String(sanitize=True)
        raw = String()

    review = Review(body="<script>alert(1)</script><b>ok</b> & done", raw="<i>kept</i>")
    assert review.body == "&lt;script&gt;alert(1)&lt;/script&gt;<b>ok</b> &amp; done"
    assert review.raw == "<i>kept</i>"
    review.body = '<a href="javascript:x">link</a>'
    assert review.body == "<a>link</a>"


@pytest.mark.parametrize(
    "make",
    [
        lambda: String(max_length=-1),
        lambda: String(min_length=-2),
        lambda: String(min_length=5, max_length=3),
        lambda: String(max_length="10"),
        lambda: Integer(min_value=5, max_value=1),
    ],
)
def test_bounds_no_value_can_meet_are_refused_at_declaration(make):
    with pytest.raises(TypeError):
        make()


def test_the_domain_s_field_defaults_sanitize_strings_that_leave_it_unset(make_domain):
    from tests.unit._support import start

    domain = make_domain(field_defaults={"sanitize": True})

    @domain.aggregate
    class Page(BaseAggregate):
        body = String()
        raw = String(sanitize=False)

    start(domain)
    page = Page(body="<script>x</script>", raw="<script>x</script>")
    assert page.body == "&lt;script&gt;x&lt;/script&gt;" and page.raw == "<script>x</script>"


def test_field_defaults_take_sanitize_only(make_domain):
    from archipel.errors import ConfigurationError
    from tests.unit._support import start

    for wrong in ({"sanitise": True}, {"sanitize": "yes"}):
        with pytest.raises(ConfigurationError, match="field_defaults"):
            start(make_domain(field_defaults=wrong))
