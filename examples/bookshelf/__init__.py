"""Bookshelf: an online bookstore as one bounded context (seed 002, "the full picture").

This module only creates the domain. Its configuration is ``domain.toml`` beside
this file; ``domain.init()`` imports every module of the package, whose
decorators register the elements:

- value objects ``money``, ``address``; aggregates in ``catalog``, ``inventory``,
  ``ordering``, ``shipping`` (each: aggregate, events, commands, command handler);
- ``fulfillment``: the OrderFulfillmentPM process manager;
- ``read_models``: projections read with ``domain.query_for(...)``;
- ``notifications``: e-mails sent to customers, kept in a projection;
- ``integration``: the anti-corruption layer for a distributor's webhook and
  the integration event other bounded contexts consume;
- ``api``: the HTTP entry point; ``__main__``: the narrated story.
"""

from archipel import Domain

domain = Domain(name="Bookshelf")
