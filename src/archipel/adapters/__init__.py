"""Adapters implement the ports; ``registry`` chooses them by provider name."""
