"""Accounts: who the customers are (seed 000's *identity* context).

The authority for customer data. ``Customer`` has ``fact_events=True``: every
change also publishes ``Accounts.CustomerFactEvent.v1`` with the customer's
whole state, so downstream contexts (delivery) can keep a local copy by
replacing it wholesale instead of applying deltas.

This module only creates the domain; ``accounts_domain.init()`` imports the
sibling modules, whose decorators register the elements. Configuration:
``domain.toml`` beside this file.
"""

from archipel import Domain

accounts_domain = Domain(name="Accounts")
