"""What ``archipel dlq ... --subscription S`` selects: a subscription, or a stream category.

archipel keeps dead letters per subscription (the handler that gave up);
Protean's ``protean dlq ... --subscription order`` names a *stream
category*. Both spellings work, resolved in this order, and anything else
is an error naming what exists (never an empty result for a typo):

1. a subscription's full name (``shop.handlers.Mailer``);
2. a subscription's class name (``Mailer``), when only one has it;
3. a stream category, in full (``shop::order``) or without its domain
   prefix (``order``): every dead letter of a message from that category.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from archipel.cli._console import CliError

__all__ = ["Scope", "resolve_scope"]


def _category(stream: str | None) -> str:
    return (stream or "").partition("-")[0]


def short_name(subscription: str) -> str:
    """A subscription's handler class name (``module.Outer.<locals>.Courier`` -> ``Courier``)."""
    return subscription.rsplit(".", 1)[-1] or subscription


@dataclass(frozen=True)
class Scope:
    """The dead letters a command acts on: all, one subscription's, or one category's."""

    subscription: str | None = None
    category: str | None = None

    def admits(self, letter: Any) -> bool:
        """Whether ``letter`` is in this scope."""
        if self.subscription is not None and letter.subscription != self.subscription:
            return False
        return self.category is None or _category(letter.stream) == self.category

    def describe(self) -> str:
        """`` of subscription 'X'``, `` of stream category 'c'`` or ``""``."""
        if self.subscription is not None:
            return f" of subscription {self.subscription!r}"
        if self.category is not None:
            return f" of stream category {self.category!r}"
        return ""


def _the_one(given: str, found: list[str], several: str, hint: str) -> str | None:
    """The single name in ``found``; None when there is none; a usage error when several."""
    if len(found) > 1:
        raise CliError(f"--subscription {given!r} {several}: {', '.join(sorted(found))}", hint=hint, code=2)
    return found[0] if found else None


def resolve_scope(
    given: str | None,
    letters: Iterable[Any],
    subscriptions: Callable[[], Iterable[str]],
    categories: Callable[[], Iterable[str]],
) -> Scope:
    """The scope ``--subscription given`` names (see the module), or a :class:`CliError`.

    ``letters`` are the stored dead letters; ``subscriptions()`` and
    ``categories()`` give the domain's subscription names and stream
    categories (asked only when the letters do not settle it).
    """
    if not given or not given.strip():
        return Scope()
    given = given.strip()
    letters = list(letters)
    named = {letter.subscription for letter in letters}
    if given not in named:
        named |= set(subscriptions())
    if given in named:
        return Scope(subscription=given)
    by_class = _the_one(given, [n for n in named if short_name(n) == given], "names several subscriptions",
                        "give the full name")
    if by_class is not None:
        return Scope(subscription=by_class)
    known = {_category(letter.stream) for letter in letters} | set(categories())
    known.discard("")
    category = _the_one(given, [c for c in known if c == given or c.partition("::")[2] == given],
                        "matches several stream categories", "give the category in full (domain::name)")
    if category is not None:
        return Scope(category=category)
    shown = sorted(short_name(n) for n in named) + sorted(known)
    raise CliError(
        f"no subscription or stream category {given!r}",
        hint="known: " + (", ".join(shown) if shown else "none (the domain has no handlers)"),
        code=2,
    )
