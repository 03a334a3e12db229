"""Identity fields: ``Identifier`` and ``Auto`` (generated), and :func:`new_identity`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from os import urandom as _urandom
from time import time_ns as _time_ns
from typing import Any

from archipel.fields.base import Field, FieldError, accepting, shown
from archipel.fields.limits import IDENTITY_LENGTH, check_int64, check_text
from archipel.fields.numbers import _whole_number

__all__ = ["Identifier", "Auto", "check_identity", "new_identity", "new_time_ordered_identity"]


class Identifier(Field):
    """An identity value: strings, integers and UUIDs are stored as strings.

    Text identities hold at most 255 characters (what identity columns store);
    ``identity_type="integer"`` ones are 64-bit integers.
    """

    type_name = "identifier"

    def __init__(self, identity_type: str = "string", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.identity_type = identity_type

    def fast_clean(self) -> Callable[[Any], Any]:
        full = self.clean
        if self.choices is not None or self.validators or self.identity_type != "string":
            return full
        return accepting(
            f'type(v) is str and len(v) <= {IDENTITY_LENGTH} and v.isascii() and "\\x00" not in v', full
        )

    def cast(self, value: Any) -> Any:
        if self.identity_type == "integer":
            try:
                return check_int64(_whole_number(value, big=False))
            except FieldError:
                raise FieldError(f"expected a 64-bit integer identity, got {shown(value)}") from None
        if isinstance(value, (str, int, uuid.UUID)) and not isinstance(value, bool):
            if isinstance(value, int) and not -(10**255) < value < 10**255:
                raise FieldError(f"must be at most {IDENTITY_LENGTH} characters long (an identity)")
            return check_identity(value if type(value) is str else str(value))
        raise FieldError(f"expected an identifier (text, number or UUID), got {shown(value)}")


def check_identity(text: str) -> str:
    """``text`` when it can be an identity (valid text of at most 255 characters)."""
    if len(text) > IDENTITY_LENGTH:
        raise FieldError(f"must be at most {IDENTITY_LENGTH} characters long (an identity)")
    return check_text(text)


def new_identity() -> str:
    """A new random identity: a version-4 UUID as text, from ``os.urandom``.

    Identities are made 512 at a time from one draw of random bytes, laid
    out by C-level slice copies into a template of UUID texts (no Python
    work per character), and handed out with ``list.pop`` (atomic under the
    GIL, so threads share the batch safely): about 5x cheaper than formatting
    each one, with the same randomness (122 random bits) and layout as
    ``str(uuid.uuid4())``. A forked child process starts with an empty batch,
    so it never repeats its parent's identities.
    """
    try:
        return _ready.pop()
    except IndexError:
        _ready.extend(_draw())
        return _ready.pop()



#: every identity ``new_identity`` returns has one shape (36 ASCII characters, a UUID's
#: text): a field check that accepts one accepts them all (``core._codegen`` then checks
#: only values given, not the identities it makes)
new_identity._archipel_uniform = True  # type: ignore[attr-defined]

_IDS_PER_DRAW = 512
_LINE = 37  # a UUID's 36 characters and a newline
#: where each of a UUID's 32 hex digits goes in its text; digit 12 is the version (always 4)
_SLOTS = tuple(
    (digit, slot)
    for digit, slot in enumerate(i for i in range(36) if i not in (8, 13, 18, 23))
    if digit != 12
)
_TEMPLATE = b"00000000-0000-4000-8000-000000000000\n" * _IDS_PER_DRAW
#: the RFC 4122 variant digit (8, 9, a or b) of a random hex digit: its two low bits
_VARIANT = bytes.maketrans(b"0123456789abcdef", b"89ab89ab89ab89ab")
#: identities not handed out yet (shared by the threads of the process)
_ready: list[str] = []


def _random_lines(
    template: bytes, line: int, slots: tuple[tuple[int, int], ...], digits: int, variant: int
) -> list[str]:
    """The ``_IDS_PER_DRAW`` lines of ``template`` (each ``line`` bytes) with ``digits`` random
    hex digits each, from one ``os.urandom`` call: digit *d* goes to offset *s* of its line for
    every ``(d, s)`` of ``slots``, and the digit at offset ``variant`` becomes the RFC 4122
    variant (8, 9, a or b)."""
    hex_digits = _urandom(digits // 2 * _IDS_PER_DRAW).hex().encode("ascii")
    text = bytearray(template)
    for digit, slot in slots:
        text[slot::line] = hex_digits[digit::digits]
    text[variant::line] = text[variant::line].translate(_VARIANT)
    lines = text.decode("ascii").split("\n")
    lines.pop()  # after the last newline
    return lines


def _draw() -> list[str]:
    """``_IDS_PER_DRAW`` new version-4 UUID texts from one ``os.urandom`` call."""
    return _random_lines(_TEMPLATE, _LINE, _SLOTS, 32, 19)


def new_time_ordered_identity() -> str:
    """A new time-ordered identity: a version-7 UUID (RFC 9562) as text.

    48 bits of Unix time in milliseconds, then 12 bits of the fraction of the
    millisecond (RFC 9562's "increased clock precision", in steps of 256 ns),
    then 62 random bits: the variant digit and 15 more hex digits (the same
    layout as a version-4 UUID's tail). Identities made later sort later (as
    text too) unless the system clock steps back, which costs only that
    ordering: 62 random bits keep them unique. A database index of such keys
    grows at its end, where a random key lands on any page (``docs/engine.md``,
    "SQLite").

    The random tails come 512 at a time from one ``os.urandom`` draw, laid out
    by C-level slice copies (as :func:`new_identity`'s), the millisecond's text
    is made once per millisecond, and the fraction's three digits come from
    one table: small-integer work only, no ``divmod`` of the clock's
    nanoseconds, no ``hex()`` per identity.
    """
    ns = _time_ns()
    try:
        tail = _tails.pop()
    except IndexError:
        _tails.extend(_draw_tails())
        tail = _tails.pop()
    global _clock
    start, end, text = _clock
    if not start <= ns < end:  # the time's text changes once per millisecond
        ms = ns // 1_000_000
        t = hex(0x1_0000_0000_0000 + ms)[3:]  # 12 hex digits (ms < 2**48 until the year 10889)
        start = ms * 1_000_000
        text = f"{t[:8]}-{t[8:]}-7"
        _clock = (start, start + 1_000_000, text)  # replaced whole: threads share it
    return f"{text}{_HEX3[(ns - start) >> 8]}{tail}"  # the fraction, 0..3906: 12 bits


#: the first nanosecond of the millisecond of the latest time-ordered identity, the first
#: of the next one, and the millisecond's text (replaced whole: threads share it)
_clock: tuple[int, int, str] = (0, 0, "")
#: the three hex digits of each 12-bit fraction of a millisecond (one lookup per identity)
_HEX3 = tuple(f"{i:03x}" for i in range(4096))
_TAIL = 19  # "-" variant digit, 3 hex digits, "-", 12 hex digits, newline
#: where each of a tail's 16 hex digits goes in its line; digit 0 is the variant
_TAIL_SLOTS = tuple(enumerate(i for i in range(1, 18) if i != 5))
_TAIL_TEMPLATE = b"-8000-000000000000\n" * _IDS_PER_DRAW
#: random tails not handed out yet (shared by the threads of the process)
_tails: list[str] = []


def _draw_tails() -> list[str]:
    """``_IDS_PER_DRAW`` random tails of time-ordered identities from one ``os.urandom`` call."""
    return _random_lines(_TAIL_TEMPLATE, _TAIL, _TAIL_SLOTS, 16, 1)


os.register_at_fork(after_in_child=_ready.clear)
os.register_at_fork(after_in_child=_tails.clear)


def _uuid_int() -> int:
    """A random positive 63-bit integer: fits the BIGINT/INTEGER identity columns of SQL stores."""
    return uuid.uuid4().int >> 65 or 1


class Auto(Identifier):
    """An identity generated when none is given (UUID4 text by default).

    ``identity_strategy``: ``"uuid"`` (default) or ``"function"`` (call
    ``identity_function``); ``identity_type``: ``"string"`` (default),
    ``"uuid"`` (UUID text) or ``"integer"`` (a random 63-bit number). Left
    unset, both follow the domain's ``identity_strategy``/``identity_type``
    configuration (applied by ``Domain.init()``).
    """

    _STRATEGIES = ("uuid", "function")
    _TYPES = ("string", "uuid", "integer")

    def __init__(
        self,
        *,
        increment: bool = False,
        identity_strategy: str | None = None,
        identity_function: Callable[[], Any] | None = None,
        identity_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        if increment:
            raise TypeError(
                "Auto(increment=True) is not supported: archipel gives an object its identity "
                "when it is created, not when the database stores it; use "
                "identity_strategy=\"function\" with identity_function=... for sequences"
            )
        self._given_default = "default" in kwargs
        super().__init__(identity_type=identity_type or "string", **kwargs)
        self.identity_strategy = identity_strategy
        self.identity_function = identity_function
        #: strategy/type given here (the domain's configuration does not override them)
        self.explicit = (identity_strategy is not None, identity_type is not None)
        self.use_identity(identity_strategy or "uuid", identity_type or "string")

    def use_identity(self, strategy: str, identity_type: str) -> None:
        """Generate identities with ``strategy`` and ``identity_type`` (checked)."""
        if strategy not in self._STRATEGIES:
            raise TypeError(f"identity_strategy={strategy!r}: use one of {', '.join(self._STRATEGIES)}")
        if identity_type not in self._TYPES:
            raise TypeError(f"identity_type={identity_type!r}: use one of {', '.join(self._TYPES)}")
        if strategy == "function":
            if not callable(self.identity_function):
                raise TypeError("identity_strategy=\"function\" needs identity_function=<callable>")
            generate: Callable[[], Any] = self.identity_function
        else:
            generate = _uuid_int if identity_type == "integer" else new_identity
        self.identity_type = "integer" if identity_type == "integer" else "string"
        if not self._given_default:
            self.set_default(generate)
