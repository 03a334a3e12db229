"""A shop as six bounded contexts in one repository (seeds 000, 001 and 003).

Each sub-package is one context with its own ``Domain``, its own
``domain.toml`` and its own data; they talk only through events:

==============  ===========  ===================================================
package         Domain       role
==============  ===========  ===================================================
``accounts``    Accounts     customers (fact events)                  — identity
``products``    Products     catalogue; domain vs integration events  — catalogue
``sales``       Sales        orders, status derived from other contexts' events
``warehouse``   Warehouse    stock; reserves or rejects orders        — inventory
``payments``    Payments     payments opened, captured, voided, refunded — billing
``delivery``    Delivery     recipients, customer cards, the fulfillment process
                             manager, shipments, the carrier's webhook — fulfillment
==============  ===========  ===================================================

``api.py`` serves them over HTTP (one URL prefix per context);
``python -m examples.multi_domain`` tells the story end to end.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

__all__ = ["CONTEXTS", "all_domains", "start"]

#: context package -> name of the Domain attribute in its ``__init__``
CONTEXTS: dict[str, str] = {
    "accounts": "accounts_domain",
    "products": "products_domain",
    "sales": "sales_domain",
    "warehouse": "warehouse_domain",
    "payments": "payments_domain",
    "delivery": "delivery_domain",
}


def all_domains() -> list[Any]:
    """The six ``Domain`` objects (not initialised), in a fixed order.

    Importing a context package only creates its ``Domain``; nothing else
    happens until ``init()``.
    """
    return [
        getattr(importlib.import_module(f"{__name__}.{package}"), attribute)
        for package, attribute in CONTEXTS.items()
    ]


def _sqlite_file(settings: dict[str, Any]) -> Path | None:
    """The file of an SQLite ``database_uri`` when the provider is not memory."""
    uri = str(settings.get("database_uri") or "")
    if settings.get("provider") == "memory" or not uri.startswith("sqlite"):
        return None
    path = uri.partition(":///")[2].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def start(domains: list[Any] | None = None) -> list[Any]:
    """Initialise every context and create its tables (idempotent); return them.

    All six are initialised even when a caller uses only one: a context that
    is not initialised does not receive the other contexts' events. The
    folder of an SQLite file (``.archipel/``) is created first, as SQLite
    does not create directories.
    """
    domains = all_domains() if domains is None else domains
    for domain in domains:
        for settings in [*domain.config["databases"].values(), domain.config["event_store"]]:
            path = _sqlite_file(settings)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
        domain.init()
        with domain.domain_context():
            domain.setup_database()
    return domains
