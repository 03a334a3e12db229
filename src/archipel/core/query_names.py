"""The names a query may use: an element's fields (or their stored names) and the known
lookups. A name that is neither is an error, never a query that silently matches nothing."""

from __future__ import annotations

from archipel.errors import IncorrectUsageError, NotSupportedError
from archipel.utils.query import LOOKUPS, Q, split_lookup

__all__ = ["check_criteria"]


def check_criteria(model: type | None, q: Q, order_by: tuple[str, ...] = ()) -> None:
    """Raise when a criterion of ``q`` (or a sort key) names no field of ``model``, or
    no known lookup.

    Field names, ``referenced_as`` names and framework columns (``_``-prefixed) are
    accepted; ``model`` None (a query over no element) checks nothing.
    """
    fields = getattr(model, "_fields", None)
    if not fields:
        return
    known = set(fields) | {f.attribute_name for f in fields.values()}
    for key in order_by:
        name = key.lstrip("-+")
        if name not in known and not name.startswith("_"):
            raise IncorrectUsageError(
                f"{model.__name__} has no field {name!r} to sort by; its fields: "  # type: ignore[union-attr]
                f"{', '.join(sorted(fields))}"
            )
    for key, _ in q.leaves():
        name, lookup = split_lookup(key)
        if name in known or name.startswith("_"):
            continue
        stem, sep, suffix = key.rpartition("__")
        if sep and (stem in known or stem.startswith("_")):
            raise NotSupportedError(
                f"{model.__name__}: lookup {suffix!r} of {key!r} is not supported; use one of "  # type: ignore[union-attr]
                f"{', '.join(LOOKUPS)}"
            )
        raise IncorrectUsageError(
            f"{model.__name__} has no field {name!r} to filter on; its fields: "  # type: ignore[union-attr]
            f"{', '.join(sorted(fields))}"
        )
