"""The ``Domain``: registry, configuration, context and wiring of one bounded context."""
