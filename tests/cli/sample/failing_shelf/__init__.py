"""A domain whose event handler always fails: async events, no retries, so its
events land in the dead-letter queue as soon as ``archipel server`` runs."""

from archipel import Domain

domain = Domain(
    name="CliFailing",
    config={
        "databases": {"default": {"provider": "memory"}},
        "brokers": {"default": {"provider": "inline"}},
        "event_store": {"provider": "memory"},
        "command_processing": "sync",
        "event_processing": "async",
        "server": {"stream_subscription": {"max_retries": 0, "retry_delay_seconds": 0}},
    },
)
