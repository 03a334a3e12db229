"""Ordering: customers' orders, from placement to shipping or cancellation."""
