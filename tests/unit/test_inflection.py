"""``archipel.utils.inflection`` (Protean's ``protean.utils.inflection``) and Protean's field module paths."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archipel.utils.inflection import camelize, dasherize, humanize, titleize, underscore

# the results Protean 0.18's functions give for the same inputs (checked side by side)
CASES = [
    (camelize, ("device_type",), "DeviceType"),
    (camelize, ("device_type", False), "deviceType"),
    (camelize, ("IOError",), "IOError"),
    (underscore, ("DeviceType",), "device_type"),
    (underscore, ("IOError",), "io_error"),
    (underscore, ("HTTPServerError",), "http_server_error"),
    (underscore, ("CamelCase_with-dash",), "camel_case_with_dash"),
    (dasherize, ("lower_case",), "lower-case"),
    (humanize, ("employee_salary",), "Employee salary"),
    (humanize, ("author_id",), "Author"),
    (titleize, ("man from the boondocks",), "Man From The Boondocks"),
    (titleize, ("x-men: the last stand",), "X Men: The Last Stand"),
    (titleize, ("TheManWithoutAPast",), "The Man Without A Past"),
    (titleize, ("raiders_of_the_lost_ark",), "Raiders Of The Lost Ark"),
]


@pytest.mark.parametrize(("function", "args", "expected"), CASES)
def test_protean_s_results(function, args, expected):
    assert function(*args) == expected


# words of two letters or more (a one-letter word reads back as part of an acronym, as in Protean)
snake = st.lists(st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=6), min_size=1, max_size=4).map("_".join)


@given(snake)
def test_underscore_undoes_camelize_for_snake_names(name):
    assert underscore(camelize(name)) == name
    lower = camelize(name, False)
    assert lower[0] == name[0] and underscore(lower) == name


@given(snake)
def test_dasherize_only_swaps_underscores(name):
    assert dasherize(name).replace("-", "_") == name and "_" not in dasherize(name)


def test_empty_lower_camel_is_empty():
    assert camelize("", False) == ""  # Protean raises IndexError here


def test_protean_s_field_module_paths_import():
    from archipel.fields import HasMany, List, Reference, ValueObject
    from archipel.fields.association import HasMany as HasMany2
    from archipel.fields.association import Reference as Reference2
    from archipel.fields.containers import List as List2
    from archipel.fields.embedded import ValueObject as ValueObject2

    assert (HasMany2, Reference2, List2, ValueObject2) == (HasMany, Reference, List, ValueObject)
