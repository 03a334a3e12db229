"""A small domain for the CLI tests: books, a projection, an event handler."""

from archipel import Domain

domain = Domain(
    name="CliShelf",
    config={
        "databases": {"default": {"provider": "memory"}},
        "brokers": {"default": {"provider": "inline"}},
        "event_store": {"provider": "memory"},
        "command_processing": "sync",
        "event_processing": "sync",
    },
)
