"""The dead-letter page's reads and actions, over :mod:`archipel.engine.dlq`.

Every action goes through the engine's store (``replay``, ``purge``), one
letter at a time in failure order, so a group replay keeps each aggregate's
order as ``archipel dlq replay --all`` does.

Filters (all optional, combined): ``subscription`` (exact), ``type``
(substring), ``error`` (substring of the whole error), ``group`` (a group id
from :func:`~archipel.observatory.shapes.group_key`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from archipel.domain.domain import Domain
from archipel.observatory.shapes import dead_letter_json, group_key, groups_json

__all__ = ["FILTERS", "act_on_group", "act_on_one", "letter_json", "list_json"]

FILTERS = ("subscription", "type", "error", "group")
_SCAN = 10_000  # dead letters read to filter and group


def _store(domain: Domain) -> Any:
    from archipel.engine.dlq import dead_letter_store

    return dead_letter_store(domain)


def _matching(domain: Domain, filters: Mapping[str, str | None]) -> list[Any]:
    store = _store(domain)
    with domain.domain_context():
        letters = list(store.list(subscription=filters.get("subscription") or None, limit=_SCAN))
    kind = (filters.get("type") or "").lower()
    error = (filters.get("error") or "").lower()
    group = filters.get("group") or ""
    return [
        letter
        for letter in letters
        if (not kind or kind in str(letter.type or "").lower())
        and (not error or error in str(letter.error or "").lower())
        and (not group or group_key(letter.subscription, letter.error) == group)
    ]


def list_json(domain: Domain, filters: Mapping[str, str | None], limit: int) -> dict[str, Any]:
    """``{"domain", "total", "dead_letters": [...], "groups": [...]}`` for the filters."""
    letters = _matching(domain, filters)
    return {
        "domain": domain.name,
        "total": len(letters),
        "dead_letters": [dead_letter_json(x) for x in letters[:limit]],
        "groups": groups_json(letters),
    }


def letter_json(domain: Domain, letter_id: str) -> dict[str, Any] | None:
    """One dead letter in full (error and payload), None when there is none."""
    store = _store(domain)
    with domain.domain_context():
        letter = store.get(letter_id)
    return dead_letter_json(letter, full=True) if letter is not None else None


def act_on_one(domain: Domain, action: str, letter_id: str) -> bool:
    """``replay`` or ``purge`` one dead letter; False when it is not there (any more)."""
    store = _store(domain)
    with domain.domain_context():
        return bool(store.replay(letter_id) if action == "replay" else store.purge(letter_id))


def act_on_group(domain: Domain, action: str, filters: Mapping[str, str | None]) -> int:
    """``replay`` or ``purge`` every dead letter matching ``filters``; return how many."""
    letters = _matching(domain, filters)
    store = _store(domain)
    done = 0
    with domain.domain_context():
        for letter in letters:
            ok = store.replay(letter.id) if action == "replay" else store.purge(letter.id)
            done += 1 if ok else 0
    return done
