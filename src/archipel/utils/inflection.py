"""Converting names between cases: Protean's ``protean.utils.inflection``.

The five functions of the ``inflection`` library Protean ships, with its results::

    camelize("device_type") == "DeviceType"; camelize("device_type", False) == "deviceType"
    underscore("DeviceType") == "device_type"; dasherize("lower_case") == "lower-case"
    humanize("author_id") == "Author"; titleize("TheManWithoutAPast") == "The Man Without A Past"
"""

from __future__ import annotations

import re

__all__ = ["camelize", "dasherize", "humanize", "titleize", "underscore"]

_CAMEL = re.compile(r"(?:^|_)(.)")
_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_WORD_START = re.compile(r"([a-z\d])([A-Z])")
_TRAILING_ID = re.compile(r"_id$")
_WORDS = re.compile(r"(?i)([a-z\d]*)")
_FIRST = re.compile(r"^\w")
_TITLE = re.compile(r"\b('?[a-z])")


def camelize(string: str, uppercase_first_letter: bool = True) -> str:
    """``device_type`` → ``DeviceType`` (``deviceType`` with ``uppercase_first_letter=False``)."""
    if uppercase_first_letter:
        return _CAMEL.sub(lambda m: m.group(1).upper(), string)
    return string[0].lower() + camelize(string)[1:] if string else string


def dasherize(word: str) -> str:
    """``lower_case`` → ``lower-case``."""
    return word.replace("_", "-")


def humanize(word: str) -> str:
    """``employee_salary`` → ``Employee salary``; a trailing ``_id`` goes (``author_id`` → ``Author``)."""
    word = _TRAILING_ID.sub("", word).replace("_", " ")
    word = _WORDS.sub(lambda m: m.group(1).lower(), word)
    return _FIRST.sub(lambda m: m.group(0).upper(), word)


def titleize(word: str) -> str:
    """``raiders_of_the_lost_ark`` → ``Raiders Of The Lost Ark``; ``x-men: the last stand`` → ``X Men: The Last Stand``."""
    return _TITLE.sub(lambda m: m.group(1).capitalize(), humanize(underscore(word)))


def underscore(word: str) -> str:
    """``DeviceType`` → ``device_type``; ``IOError`` → ``io_error``; dashes become underscores."""
    word = _ACRONYM.sub(r"\1_\2", word)
    word = _WORD_START.sub(r"\1_\2", word).replace("-", "_")
    return word.lower()
