"""Redis adapters: the Redis Streams broker (``provider = "redis"``)."""
