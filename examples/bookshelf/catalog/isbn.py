"""ISBN-13 validation, used by the ``Book`` aggregate and the commands that name a book."""

from __future__ import annotations


def normalise_isbn(value: str) -> str:
    """``"978-0-441-01359-3"`` -> ``"9780441013593"`` (hyphens and spaces dropped)."""
    return value.replace("-", "").replace(" ", "")


def check_isbn13(value: str) -> None:
    """Field validator: raise ``ValueError`` unless ``value`` is a valid ISBN-13.

    The last digit is a checksum (weights 1 and 3), so a mistyped ISBN is
    caught at the door instead of creating a book nobody can find.
    """
    if len(value) != 13 or not value.isdigit():
        raise ValueError(f"{value!r} is not an ISBN-13: expected 13 digits, e.g. 9780441013593")
    total = sum(int(digit) * (3 if position % 2 else 1) for position, digit in enumerate(value[:12]))
    if (10 - total % 10) % 10 != int(value[12]):
        raise ValueError(f"{value!r} is not a valid ISBN-13: its check digit is wrong")
