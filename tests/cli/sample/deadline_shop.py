"""A domain whose checkout process manager has deadlines in every state (in memory)."""

from tests.observatory.checkout import build

domain = build(
    "CliCheckout",
    {
        "databases": {"default": {"provider": "memory"}},
        "event_store": {"provider": "memory"},
        "command_processing": "sync",
        "event_processing": "sync",
    },
)
