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
from typing import Any

__all__ = ["CONTEXTS", "all_domains"]

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
