"""``Q``: composable filter criteria (``Q(status="placed") & ~Q(total__lt=10)``).

A leaf holds ``field__lookup=value`` pairs (ANDed). Lookups: exact, iexact,
contains, icontains, startswith, endswith, gt, gte, lt, lte, in, isnull.
Adapters translate criteria to their query language; :func:`evaluate` is the
reference semantics, used by the memory adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from archipel.errors import NotSupportedError

__all__ = ["F", "Q", "LOOKUPS", "F_LOOKUPS", "split_lookup", "evaluate", "compile_predicate"]

#: lookups that may compare a field with another field of the same record (``F``)
F_LOOKUPS = ("exact", "gt", "gte", "lt", "lte")


class F:
    """Another field of the same record, as a lookup value: ``Q(spent__gt=F("budget"))``.

    Only a bare field reference, with ``exact``, ``gt``, ``gte``, ``lt`` and
    ``lte``; a comparison involving a missing (None) value is false, except
    ``exact``, which holds when both are None.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"F() takes a field name, got {name!r}")
        self.name = name

    def __repr__(self) -> str:
        return f"F({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, F) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("F", self.name))

LOOKUPS = (
    "exact",
    "iexact",
    "contains",
    "icontains",
    "startswith",
    "endswith",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "isnull",
)


class Q:
    """A node of filter criteria: ``AND``/``OR`` of children, optionally negated."""

    AND = "AND"
    OR = "OR"

    __slots__ = ("connector", "negated", "children")

    def __init__(self, *args: Q, _connector: str = "AND", _negated: bool = False, **kwargs: Any) -> None:
        self.connector = _connector
        self.negated = _negated
        self.children: list[Q | tuple[str, Any]] = [*args, *sorted(kwargs.items())]

    def _combine(self, other: Q, connector: str) -> Q:
        if not isinstance(other, Q):
            raise TypeError(f"cannot combine Q with {type(other).__name__}")
        if not other.children:
            return self
        if not self.children:
            return other
        return Q(self, other, _connector=connector)

    def __and__(self, other: Q) -> Q:
        return self._combine(other, Q.AND)

    def __or__(self, other: Q) -> Q:
        return self._combine(other, Q.OR)

    def __invert__(self) -> Q:
        return Q(self, _negated=True)

    def leaves(self) -> Iterator[tuple[str, Any]]:
        """Every ``(field__lookup, value)`` pair in the tree."""
        for child in self.children:
            if isinstance(child, Q):
                yield from child.leaves()
            else:
                yield child

    def __repr__(self) -> str:
        inner = f" {self.connector} ".join(repr(c) for c in self.children)
        return f"{'NOT ' if self.negated else ''}({inner})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Q)
            and (self.connector, self.negated, self.children)
            == (other.connector, other.negated, other.children)
        )

    def __hash__(self) -> int:
        return hash(repr(self))


def split_lookup(key: str) -> tuple[str, str]:
    """``"price__gte"`` -> ``("price", "gte")``; a bare field name means ``exact``."""
    field, sep, lookup = key.rpartition("__")
    if sep and lookup in LOOKUPS:
        return field, lookup
    return key, "exact"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _member(item: Any, items: list[Any] | tuple[Any, ...]) -> bool:
    """``item in items`` with JSON equality: ``True`` is not ``1``."""
    is_bool = isinstance(item, bool)
    return any(x == item and isinstance(x, bool) == is_bool for x in items)


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(actual: Any, expected: Any) -> bool:
        if actual is None or expected is None:
            return False
        try:
            return op(actual, expected)
        except TypeError:
            return False

    return compare


_PREDICATES: dict[str, Callable[[Any, Any], bool]] = {
    "exact": lambda a, e: a == e,
    "iexact": lambda a, e: a is not None and _text(a).lower() == _text(e).lower(),
    "contains": lambda a, e: a is not None and (
        _member(e, a) if isinstance(a, (list, tuple)) else _text(e) in _text(a)
    ),
    "icontains": lambda a, e: a is not None and _text(e).lower() in _text(a).lower(),
    "startswith": lambda a, e: a is not None and _text(a).startswith(_text(e)),
    "endswith": lambda a, e: a is not None and _text(a).endswith(_text(e)),
    "gt": _cmp(lambda a, e: a > e),
    "gte": _cmp(lambda a, e: a >= e),
    "lt": _cmp(lambda a, e: a < e),
    "lte": _cmp(lambda a, e: a <= e),
    "in": lambda a, e: a in e,
    "isnull": lambda a, e: (a is None) == bool(e),
}


def compile_predicate(
    q: Q, normalize: Callable[[str, Any, str], Any] | None = None
) -> Callable[[dict[str, Any]], bool]:
    """Compile ``q`` into a function of a record dict (flat field names).

    ``normalize(field, value, lookup)`` converts criteria values to stored form
    (e.g. dates to ISO text); it may raise ``ValidationError`` or
    ``NotSupportedError``. ``None`` with a lookup other than ``exact``,
    ``isnull`` and ``in`` matches no record.
    """
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for child in q.children:
        if isinstance(child, Q):
            tests.append(compile_predicate(child, normalize))
            continue
        key, value = child
        field, lookup = split_lookup(key)
        predicate = _PREDICATES.get(lookup)
        if predicate is None:
            raise NotSupportedError(f"lookup {lookup!r} is not supported; use one of {LOOKUPS}")
        if isinstance(value, F):
            tests.append(_column_leaf(field, lookup, value.name))
            continue
        if normalize is not None:
            value = (
                [normalize(field, v, lookup) for v in value]
                if lookup == "in"
                else value
                if lookup == "isnull"
                else normalize(field, value, lookup)
            )
        if lookup == "exact" and value is None:
            predicate = _PREDICATES["isnull"]
            value = True
        elif value is None and lookup not in ("isnull", "in"):
            tests.append(_never)
            continue
        tests.append(_leaf(field, predicate, value))
    if q.connector == Q.AND:
        def combined(record: dict[str, Any]) -> bool:
            return all(test(record) for test in tests)
    else:
        def combined(record: dict[str, Any]) -> bool:
            return any(test(record) for test in tests)
    if q.negated:
        return lambda record: not combined(record)
    return combined


def _never(record: dict[str, Any]) -> bool:
    return False


def _leaf(field: str, predicate: Callable[[Any, Any], bool], value: Any) -> Callable[[dict[str, Any]], bool]:
    def test(record: dict[str, Any]) -> bool:
        return predicate(record.get(field), value)

    return test


def evaluate(q: Q, record: dict[str, Any]) -> bool:
    """True when ``record`` satisfies ``q`` (reference semantics)."""
    return compile_predicate(q)(record)


def _column_leaf(field: str, lookup: str, other: str) -> Callable[[dict[str, Any]], bool]:
    if lookup not in F_LOOKUPS:
        raise NotSupportedError(f"F() works with the lookups {', '.join(F_LOOKUPS)}, not {lookup!r}")
    predicate = _PREDICATES[lookup]

    def test(record: dict[str, Any]) -> bool:
        return predicate(record.get(field), record.get(other))

    return test
